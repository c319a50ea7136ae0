/**
 * Nightshift marks in a domain's <metadata>: any prefix bound to the URI, typos
 * reported as problems, merge with the settings' criticalVms / haGroups; the
 * <maintenance> membership and what the inventory reports of it.
 */
import { describe, expect, it } from "vitest";
import { NIGHTSHIFT_VM_NS, domainMaintenance, parseNightshiftMetadata, vmMarks, withSettingsHaGroups } from "../../../../agent/probes/domain-metadata.js";
import { DomainMaintenanceSchema } from "../../../../shared/protocol/messages.js";

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
        "unknown element <ha_group> (known: critical, ha-group, maintenance)",
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

describe("<maintenance>: the VM's membership for maintenance plans", () => {
  const vm = (inner: string) => domain(`<metadata><ns:vm xmlns:ns="${NIGHTSHIFT_VM_NS}">${inner}</ns:vm></metadata>`);

  it("reads group, tested, minutes and repeated roles; its ha-groups go with it into the inventory", () => {
    const meta = parseNightshiftMetadata(vm(`<ns:ha-group>dns</ns:ha-group><ns:maintenance group="acme" tested="yes" minutes="45">`
      + "<ns:role>production</ns:role><ns:role>dns</ns:role><ns:role>production</ns:role></ns:maintenance>"));
    expect(meta).toEqual({
      critical: null, haGroups: ["dns"], problems: [],
      maintenance: { group: "acme", roles: ["production", "dns"], tested: true, estimatedMinutes: 45 },
    });
    const reported = domainMaintenance(meta);
    expect(reported).toEqual({ group: "acme", roles: ["production", "dns"], tested: true, haGroups: ["dns"], estimatedMinutes: 45 });
    expect(DomainMaintenanceSchema.parse(reported)).toEqual(reported);
  });

  it("only a group is needed: untested, no roles, the controller's slot length; any prefix, a default namespace, nightshift-prefixed attributes", () => {
    for (const md of [
      `<metadata><ns:vm xmlns:ns="${NIGHTSHIFT_VM_NS}"><ns:maintenance group="acme"/></ns:vm></metadata>`,
      `<metadata><vm xmlns="${NIGHTSHIFT_VM_NS}"><maintenance group=" acme "></maintenance></vm></metadata>`,
      `<metadata xmlns:n="${NIGHTSHIFT_VM_NS}"><n:vm><n:maintenance n:group="acme" tested="off"/></n:vm></metadata>`,
    ]) {
      const meta = parseNightshiftMetadata(domain(md));
      expect(meta, md).toEqual({ critical: null, haGroups: [], problems: [], maintenance: { group: "acme", roles: [], tested: false, estimatedMinutes: null } });
      expect(domainMaintenance(meta), md).toEqual({ group: "acme", roles: [], tested: false });
    }
  });

  it("no <maintenance>: not in scope, and nothing for the inventory", () => {
    const meta = parseNightshiftMetadata(vm("<ns:critical>true</ns:critical><ns:ha-group>dns</ns:ha-group>"));
    expect(meta.maintenance).toBeUndefined();
    expect(domainMaintenance(meta)).toBeUndefined();
  });

  it("without a valid group it is not in scope, and says so", () => {
    expect(parseNightshiftMetadata(vm('<ns:maintenance tested="yes"><ns:role>web</ns:role></ns:maintenance>'))).toEqual({
      critical: null, haGroups: [],
      problems: ["<maintenance> needs a group attribute (whose maintenance windows apply); the VM is not in scope for plans"],
    });
    const spaced = parseNightshiftMetadata(vm('<ns:maintenance group="two words"/>'));
    expect(spaced.maintenance).toBeUndefined();
    expect(spaced.problems).toEqual(['<maintenance> group must be a name without white space (1-128 characters), not "two words"; the VM is not in scope for plans']);
  });

  it("reports bad values, unknown attributes and children, a second element; keeps what it understood", () => {
    const meta = parseNightshiftMetadata(vm('<ns:maintenance group="acme" tested="maybe" minutes="-5" wave="2">'
      + "<ns:role>web</ns:role><ns:role>two words</ns:role><ns:roles>db</ns:roles><other:role xmlns:other='urn:x'>db</other:role>stray"
      + '</ns:maintenance><ns:maintenance group="other"/>'));
    expect(meta.maintenance).toEqual({ group: "acme", roles: ["web"], tested: false, estimatedMinutes: null });
    expect(meta.problems).toEqual([
      '<maintenance> tested must be true or false, not "maybe" (taken as untested)',
      '<maintenance> minutes must be a number above 0, at most 10080, not "-5"',
      "unknown attribute wave on <maintenance> (known: group, tested, minutes)",
      '<role> must be a name without white space (1-64 characters), not "two words"',
      "unknown element <roles> in <maintenance> (known: role)",
      "element <other:role> inside <maintenance> is not in namespace https://nightshift.dev/xmlns/vm/1",
      'stray text "stray" in <maintenance>',
      "<maintenance> is given more than once; the first one counts",
    ]);
  });

  it("the settings' haGroups for the VM join those of its metadata", () => {
    const settings = { criticalVms: [], haGroups: { db: ["db1", "db2"], dns: ["dns1"] } };
    const reported = { group: "acme", roles: [], tested: false };
    expect(withSettingsHaGroups("db1", { ...reported, haGroups: ["web"] }, settings)).toEqual({ ...reported, haGroups: ["db", "web"] });
    expect(withSettingsHaGroups("db2", reported, settings)).toEqual({ ...reported, haGroups: ["db"] });
    expect(withSettingsHaGroups("web1", reported, settings)).toEqual(reported);
  });

  it("caps roles at 16 with a problem, so the inventory stays valid", () => {
    const roles = Array.from({ length: 18 }, (_, i) => `<ns:role>r${i}</ns:role>`).join("");
    const meta = parseNightshiftMetadata(vm(`<ns:maintenance group="acme">${roles}</ns:maintenance>`));
    expect(meta.maintenance?.roles).toHaveLength(16);
    expect(meta.problems).toEqual(['<maintenance> has more than 16 roles; "r16" is ignored', '<maintenance> has more than 16 roles; "r17" is ignored']);
    expect(DomainMaintenanceSchema.safeParse(domainMaintenance(meta)).success).toBe(true);
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
