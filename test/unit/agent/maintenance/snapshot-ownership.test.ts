import { describe, expect, it } from "vitest";
import { parseSnapshotXml } from "../../../../agent/maintenance/external-snapshot-xml.js";
import {
  SNAPSHOT_MARKER, hasMarker, markedDescription, requireOurName, snapshotNameRefusal,
} from "../../../../agent/maintenance/snapshot-ownership.js";
import { newRunId } from "../../../../shared/ids.js";
import { StepErrorCodes } from "../../../../shared/protocol/steps.js";
import { snapshotName } from "../../../../shared/runs.js";

describe("nightshift's snapshots by name", () => {
  it("takes the names snapshotName gives the VM for a run id of the controller's shape", () => {
    for (const vm of ["web1", "db.example.com", "odd name/with:chars", "x".repeat(250)]) {
      expect(snapshotNameRefusal(vm, snapshotName(newRunId(), vm))).toBeNull();
    }
  });

  it("refuses every other name, with the reason", () => {
    const run = "20261123-020501-3fa9";
    for (const name of [
      "operator-keep", "pre-patch", `nightshift-${run}`, `nightshift-${run}-web2`, `nightshift-${run}-web1-extra`,
      "nightshift-run-42-web1", "nightshift-20261123-020501-3FA9-web1", `xnightshift-${run}-web1`, `nightshift-${run}-web1 `,
    ]) {
      expect(snapshotNameRefusal("web1", name), name).toMatch(/is not named like a nightshift snapshot of VM web1/);
    }
    expect(() => requireOurName("web1", "operator-keep", "delete it"))
      .toThrow(expect.objectContaining({ code: StepErrorCodes.SNAPSHOT_NOT_OURS, message: expect.stringMatching(/does not delete it$/) }));
  });
});

describe("the agent's marker", () => {
  it("goes in front of the controller's description, and is recognised only at the start", () => {
    expect(markedDescription("nightshift run r: patch")).toBe(`${SNAPSHOT_MARKER} nightshift run r: patch`);
    expect(markedDescription("")).toBe(SNAPSHOT_MARKER);
    expect(hasMarker(markedDescription("x"))).toBe(true);
    expect(hasMarker(SNAPSHOT_MARKER)).toBe(true);
    for (const text of [null, "", "nightshift run r: patch", ` ${SNAPSHOT_MARKER}`, `note ${SNAPSHOT_MARKER}`, `${SNAPSHOT_MARKER}x`]) {
      expect(hasMarker(text), String(text)).toBe(false);
    }
  });

  it("is read back from a snapshot's XML, entities decoded", () => {
    const xml = `<domainsnapshot><name>s</name><description>${SNAPSHOT_MARKER} a &lt;b&gt; &amp; c</description>` +
      "<memory snapshot='internal'/></domainsnapshot>";
    expect(parseSnapshotXml(xml).description).toBe(`${SNAPSHOT_MARKER} a <b> & c`);
    expect(hasMarker(parseSnapshotXml(xml).description)).toBe(true);
    expect(parseSnapshotXml("<domainsnapshot><name>s</name></domainsnapshot>").description).toBeNull();
  });
});
