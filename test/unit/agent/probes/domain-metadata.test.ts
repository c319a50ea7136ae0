/**
 * Nightshift marks in a domain's <metadata>: any prefix bound to the URI, typos
 * reported as problems, merge with the settings' criticalVms / haGroups.
 */
import { describe, expect, it } from "vitest";
import { NIGHTSHIFT_VM_NS, parseNightshiftMetadata, vmMarks } from "../../../../agent/probes/domain-metadata.js";

const domain = (metadata: string) =>
  `<domain type='kvm'><name>dns1</name><uuid>a61c1192-f476-4bba-8e05-aae7f3834adc</uuid>${metadata}`
  + "<memory unit='KiB'>131072</memory><devices/></domain>";

describe("parseNightshiftMetadata", () => {
  it("reads critical and repeated ha-group elements under the documented prefix", () => {
    const xml = domain(`<metadata><nightshift:vm xmlns:nightshift="${NIGHTSHIFT_VM_NS}">`
      + "<nightshift:critical>true</nightshift:critical><nightshift:ha-group>dns</nightshift:ha-group>"
      + "<nightshift:ha-group>edge</nightshift:ha-group><nightshift:ha-group>dns</nightshift:ha-group></nightshift:vm></metadata>");
    expect(parseNightshiftMetadata(xml)).toEqual({ critical: true, haGroups: ["dns", "edge"], problems: [] });
  });

  it("tolerates any prefix, a default namespace, a declaration on <metadata>, and other namespaces beside it", () => {
    const variants = [
      `<metadata><ns0:vm xmlns:ns0="${NIGHTSHIFT_VM_NS}"><ns0:critical> yes </ns0:critical><ns0:ha-group>db</ns0:ha-group></ns0:vm></metadata>`,
      `<metadata><vm xmlns="${NIGHTSHIFT_VM_NS}"><critical>1</critical><ha-group>db</ha-group></vm></metadata>`,
      `<metadata xmlns:n="${NIGHTSHIFT_VM_NS}"><n:vm><n:critical>TRUE</n:critical><n:ha-group>db</n:ha-group></n:vm></metadata>`,
      `<metadata><libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0"><libosinfo:os id="http://debian.org/debian/12"/></libosinfo:libosinfo>`
        + `<x:vm xmlns:x="${NIGHTSHIFT_VM_NS}"><x:critical>on</x:critical><x:ha-group>db</x:ha-group></x:vm></metadata>`,
    ];
    for (const md of variants) expect(parseNightshiftMetadata(domain(md)), md).toEqual({ critical: true, haGroups: ["db"], problems: [] });
  });

  it("ignores elements of other namespaces even when their local name is vm", () => {
    const xml = domain(`<metadata><other:vm xmlns:other="urn:example:vm"><other:critical>true</other:critical></other:vm></metadata>`);
    expect(parseNightshiftMetadata(xml)).toEqual({ critical: null, haGroups: [], problems: [] });
  });

  it("no metadata at all: nothing marked, nothing wrong", () => {
    expect(parseNightshiftMetadata(domain(""))).toEqual({ critical: null, haGroups: [], problems: [] });
    expect(parseNightshiftMetadata(domain("<metadata/>"))).toEqual({ critical: null, haGroups: [], problems: [] });
  });

  it("reports what it cannot understand instead of ignoring it", () => {
    const xml = domain(`<metadata><n:vm xmlns:n="${NIGHTSHIFT_VM_NS}"><n:critical>maybe</n:critical>`
      + "<n:ha_group>dns</n:ha_group><n:ha-group>two words</n:ha-group></n:vm></metadata>");
    expect(parseNightshiftMetadata(xml)).toEqual({
      critical: null, haGroups: [],
      problems: [
        '<critical> must be true or false, not "maybe"',
        "unknown element <ha_group> (known: critical, ha-group)",
        '<ha-group> must be a name without white space (1-128 characters), not "two words"',
      ],
    });
  });

  it("a namespace URI that looks like nightshift's but is not is reported", () => {
    const xml = domain(`<metadata><n:vm xmlns:n="https://nightshift.dev/xmlns/vm/2"><n:critical>true</n:critical></n:vm></metadata>`);
    expect(parseNightshiftMetadata(xml).problems).toEqual([`namespace "https://nightshift.dev/xmlns/vm/2" is not nightshift's; use ${NIGHTSHIFT_VM_NS}`]);
  });

  it("contradicting critical elements: critical, with a problem", () => {
    const xml = domain(`<metadata><n:vm xmlns:n="${NIGHTSHIFT_VM_NS}"><n:critical>false</n:critical><n:critical>true</n:critical></n:vm></metadata>`);
    expect(parseNightshiftMetadata(xml)).toEqual({ critical: true, haGroups: [], problems: ["<critical> is given twice with different values"] });
  });

  it("never throws on XML it cannot parse", () => {
    const result = parseNightshiftMetadata("<domain><metadata><n:vm xmlns:n='x'></domain>");
    expect(result.critical).toBeNull();
    expect(Array.isArray(result.problems)).toBe(true);
  });
});

describe("vmMarks", () => {
  const settings = { criticalVms: ["db1"], haGroups: { db: ["db1", "db2"], dns: ["dns1"] } };

  it("either source marks critical, and says which", () => {
    expect(vmMarks("db1", { critical: null, haGroups: [] }, settings)).toEqual({ critical: true, haGroups: ["db"], criticalFrom: ["settings"] });
    expect(vmMarks("db1", { critical: true, haGroups: [] }, settings).criticalFrom).toEqual(["metadata", "settings"]);
    expect(vmMarks("web1", { critical: true, haGroups: [] }, settings)).toEqual({ critical: true, haGroups: [], criticalFrom: ["metadata"] });
  });

  it("metadata critical=false does not unmark a VM the settings call critical", () => {
    expect(vmMarks("db1", { critical: false, haGroups: [] }, settings).critical).toBe(true);
  });

  it("HA groups are the union of both sources, sorted, without duplicates", () => {
    expect(vmMarks("dns1", { critical: null, haGroups: ["edge", "dns"] }, settings)).toEqual({ critical: false, haGroups: ["dns", "edge"], criticalFrom: [] });
  });
});
