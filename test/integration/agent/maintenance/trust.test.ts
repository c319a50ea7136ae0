/**
 * What the agent refuses a controller, whoever holds it: against the real
 * libvirtd, one real QEMU guest (busybox + qemu-ga, /data/version = "v1") and
 * a real hook file, through the StepExecutor and the real action registry.
 *
 * - Snapshots: an operator's snapshot (`operator-keep`), one the operator
 *   named like nightshift's but that lacks the agent's marker, and one that
 *   carries the marker under another name all survive delete, discard and
 *   revert steps, internal and disk-only (where delete would merge the overlay
 *   into the disk); snapshots the agent took itself are reverted and deleted,
 *   and a discard of one is refused while it is internal or the VM runs.
 * - Hooks: a VM name that is an option, a run id that is a shell expansion, a
 *   VM that is not defined here: refused, and the hook (which appends a line
 *   to a file whenever it runs) never ran.
 *
 * Guest boots: one at the start; the disk-only part reverts nothing.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { pino } from "pino";
import { LibvirtConnection } from "../../../../agent/libvirt/connection.js";
import { parseDomainDisks } from "../../../../agent/libvirt/domain-xml.js";
import { DomainSnapshotCreateFlags } from "../../../../agent/libvirt/protocol.js";
import type { DomainRef } from "../../../../agent/libvirt/remote-types.js";
import { STEP_HANDLERS } from "../../../../agent/maintenance/actions/index.js";
import { deleteExternal } from "../../../../agent/maintenance/external-snapshot.js";
import { parseSnapshotXml } from "../../../../agent/maintenance/external-snapshot-xml.js";
import { StepExecutor } from "../../../../agent/maintenance/step-executor.js";
import { StepErrorCodes } from "../../../../shared/protocol/steps.js";
import { snapshotName } from "../../../../shared/runs.js";
import {
  ensureGuestBuilt, GUEST_DATA_VERSION, GUEST_IMAGES_DIR, guestConsoleLogPath, guestDomainXml, prepareGuestDisk, readGuestConsoleLog,
  removeGuestDisk,
} from "../../../helpers/guest.js";
import { removeDomainsWithPrefix, testPrefix } from "../../../helpers/libvirt.js";
import { stepRunner } from "../../../helpers/steps.js";

const prefix = testPrefix("trust");
const name = `${prefix}g1`;
/** A run id of the controller's shape (shared/ids.ts). */
const RUN = "20261123-020501-3fa9";
/** The agent's marker, spelt out: the test must fail if the agent stops writing it. */
const MARKER = "[nightshift-agent snapshot v1]";
const ours = snapshotName(RUN, name);
const lookalike = snapshotName("20261123-020501-beef", name);

let conn: LibvirtConnection;
let dom: DomainRef;
let diskPath: string;
let hookDir: string;
let hook: string;
let ranFile: string;
let steps: StepExecutor;
const { ok, fails } = stepRunner(() => steps);

async function exec(command: string): Promise<string> {
  const out = await ok<"guest-exec">({ kind: "guest-exec", vm: name, command, timeoutMs: 20_000 });
  expect(out.exitCode, out.stderr).toBe(0);
  return out.stdout.trim();
}
const version = (): Promise<string> => exec("cat /data/version");
const writeVersion = (v: string): Promise<string> => exec(`echo ${v} > /data/version && sync`);

async function snapshots(): Promise<string[]> {
  return (await conn.domainListAllSnapshots(dom)).map((s) => s.name).sort();
}

async function description(snapshot: string): Promise<string | null> {
  return parseSnapshotXml(await conn.domainSnapshotGetXMLDesc(await conn.domainSnapshotLookupByName(dom, snapshot))).description;
}

/** The operator's own snapshot, taken with libvirt (as `virsh snapshot-create` would), internal with memory. */
async function operatorInternal(snapshot: string, text: string): Promise<void> {
  await conn.domainSnapshotCreateXML(dom, `<domainsnapshot><name>${snapshot}</name><description>${text}</description></domainsnapshot>`, 0);
}

/** The operator's own external disk-only snapshot (`virsh snapshot-create-as --disk-only`): vda onto an overlay. */
async function operatorExternal(snapshot: string, text: string): Promise<string> {
  const overlay = `${diskPath}.${snapshot}.qcow2`;
  await conn.domainSnapshotCreateXML(dom, `<domainsnapshot><name>${snapshot}</name><description>${text}</description>` +
    `<memory snapshot='no'/><disks><disk name='vda' snapshot='external' type='file'><driver type='qcow2'/><source file='${overlay}'/>` +
    "</disk></disks></domainsnapshot>", DomainSnapshotCreateFlags.DISK_ONLY | DomainSnapshotCreateFlags.ATOMIC);
  return overlay;
}

async function liveSource(): Promise<string | null> {
  return parseDomainDisks(await conn.domainGetXMLDesc(dom))[0]?.source ?? null;
}

/** Files next to the guest's disk besides the disk itself: overlays. */
function overlays(): string[] {
  const base = path.basename(diskPath);
  return fs.readdirSync(GUEST_IMAGES_DIR).filter((f) => f.startsWith(`${base}.`) && f.endsWith(".qcow2"));
}

/** Delete, discard and revert of `snapshot` all refused as not nightshift's, and nothing about the snapshot changed. */
async function expectUntouchable(snapshot: string): Promise<void> {
  const before = await conn.domainSnapshotGetXMLDesc(await conn.domainSnapshotLookupByName(dom, snapshot));
  for (const kind of ["snapshot-delete", "snapshot-discard", "snapshot-revert"] as const) {
    const err = await fails({ kind, vm: name, name: snapshot });
    expect(err.code, `${kind} ${snapshot}: ${err.message}`).toBe(StepErrorCodes.SNAPSHOT_NOT_OURS);
    expect(err.message).toMatch(new RegExp(`^VM ${name}: snapshot "?${snapshot}"? `));
  }
  expect(await conn.domainSnapshotGetXMLDesc(await conn.domainSnapshotLookupByName(dom, snapshot))).toBe(before);
}

beforeAll(async () => {
  const artifacts = await ensureGuestBuilt();
  conn = await LibvirtConnection.open({ uri: "qemu:///system" });
  hookDir = fs.mkdtempSync(path.join(os.tmpdir(), "nstrust-hooks-"));
  ranFile = path.join(hookDir, "ran");
  hook = path.join(hookDir, "patch-appliance");
  fs.writeFileSync(hook, `#!/bin/sh\nprintf '%s|%s|%s\\n' "$1" "$NIGHTSHIFT_VM" "$NIGHTSHIFT_RUN_ID" >> '${ranFile}'\n`, { mode: 0o755 });
  steps = new StepExecutor({
    handlers: STEP_HANDLERS, libvirt: () => conn, libvirtUri: "qemu:///system",
    config: { guestCommands: [], allowAnyGuestCommand: true, hooks: [hook] }, logger: pino({ level: "silent" }),
  });
  diskPath = await prepareGuestDisk(name, artifacts);
  dom = await conn.domainDefineXML(guestDomainXml({ name, kernel: artifacts.kernel, initrd: artifacts.initrd, diskPath }));
  dom = await conn.domainCreate(dom);
  await ok<"wait-guest-agent">({ kind: "wait-guest-agent", vm: name, timeoutMs: 90_000 });
});

afterAll(async () => {
  if (conn) {
    await removeDomainsWithPrefix(conn, prefix);
    await conn.connectClose();
  }
  if (diskPath) {
    for (const f of overlays()) fs.rmSync(path.join(GUEST_IMAGES_DIR, f), { force: true });
    await removeGuestDisk(diskPath);
    fs.rmSync(guestConsoleLogPath(name), { force: true });
  }
  if (hookDir) fs.rmSync(hookDir, { recursive: true, force: true });
});

describe("the agent touches only nightshift's own snapshots", { timeout: 180_000 }, () => {
  it("internal: operator-keep, a look-alike without the marker and a marked one under another name survive delete and revert", async () => {
    onTestFailed(async () => { console.log(`console of ${name}:\n${(await readGuestConsoleLog(name)).slice(-3000)}`); });
    await operatorInternal("operator-keep", "before the upgrade, keep");
    await operatorInternal(lookalike, "named like nightshift's by hand");
    await operatorInternal("operator-marked", `${MARKER} copied from a nightshift snapshot`);
    await writeVersion("v2");

    for (const snapshot of ["operator-keep", lookalike, "operator-marked"]) await expectUntouchable(snapshot);
    // Nor does create take the look-alike for its own ("already there"): a run would count on a snapshot it cannot revert.
    const create = await fails({ kind: "snapshot-create", vm: name, name: lookalike, description: "nightshift run", mode: "internal" });
    expect(create.code).toBe(StepErrorCodes.SNAPSHOT_NOT_OURS);
    // And it makes no snapshot under a name it would not recognise later.
    const other = await fails({ kind: "snapshot-create", vm: name, name: "pre-patch", description: "", mode: "internal" });
    expect(other.code).toBe(StepErrorCodes.SNAPSHOT_NOT_OURS);

    expect(await snapshots()).toEqual(["operator-keep", "operator-marked", lookalike].sort());
    expect(await description("operator-keep")).toBe("before the upgrade, keep");
    expect(await description(lookalike)).toBe("named like nightshift's by hand");
    // No revert happened: the guest still has what was written after the snapshots.
    expect(await version()).toBe("v2");
  });

  it("internal: a snapshot the agent took carries the marker and is reverted and deleted", async () => {
    const created = await ok<"snapshot-create">({ kind: "snapshot-create", vm: name, name: ours, description: "nightshift run x: y",
      mode: "internal" });
    expect(created).toMatchObject({ name: ours, created: true, withMemory: true });
    expect(await description(ours)).toBe(`${MARKER} nightshift run x: y`);
    expect(await ok<"snapshot-create">({ kind: "snapshot-create", vm: name, name: ours, description: "again", mode: "internal" }))
      .toMatchObject({ created: false, withMemory: true });
    await writeVersion("v3");
    expect(await ok<"snapshot-revert">({ kind: "snapshot-revert", vm: name, name: ours })).toMatchObject({ state: "running" });
    await ok<"wait-guest-agent">({ kind: "wait-guest-agent", vm: name, timeoutMs: 30_000 });
    expect(await version()).toBe("v2");
    // Ours, but internal: a discard (which would be a revert) is refused; delete is the way.
    const discard = await fails({ kind: "snapshot-discard", vm: name, name: ours });
    expect([discard.code, discard.message]).toEqual([StepErrorCodes.NOT_DISK_ONLY, expect.stringMatching(/is an internal snapshot/)]);
    expect(await ok<"snapshot-delete">({ kind: "snapshot-delete", vm: name, name: ours })).toEqual({ deleted: true });
    expect(await snapshots()).toEqual(["operator-keep", "operator-marked", lookalike].sort());

    // The operator removes their own; the disk-only part below wants no internal snapshots in the image.
    for (const s of await conn.domainListAllSnapshots(dom)) await conn.domainSnapshotDelete(s, 0);
    await writeVersion(GUEST_DATA_VERSION);
  });

  it("disk-only: the operator's external snapshots survive delete (a merge of the overlay) and revert, overlay and all", async () => {
    for (const [snapshot, text] of [["operator-keep", "ops: before the upgrade"], [lookalike, "by hand"]] as const) {
      const overlay = await operatorExternal(snapshot, text);
      await writeVersion(`after-${snapshot.length}`);
      await expectUntouchable(snapshot);
      expect(await snapshots()).toEqual([snapshot]);
      expect(fs.existsSync(overlay)).toBe(true);
      expect(await liveSource()).toBe(overlay);
      expect(await conn.domainGetState(dom)).toMatchObject({ state: "running" });
      expect(await version()).toBe(`after-${snapshot.length}`);
      // The operator merges it themselves (with the agent's own merge, called directly) before the next one.
      await deleteExternal(conn, dom, await conn.domainSnapshotLookupByName(dom, snapshot));
      expect(overlays()).toEqual([]);
      expect(await liveSource()).toBe(diskPath);
    }
  });

  it("disk-only: a snapshot the agent took carries the marker and is merged by delete", async () => {
    const created = await ok<"snapshot-create">({ kind: "snapshot-create", vm: name, name: ours, description: "d", mode: "disk-only-quiesce" });
    expect(created).toMatchObject({ created: true, withMemory: false });
    expect(await description(ours)).toBe(`${MARKER} d`);
    await writeVersion("v4");
    // Ours, but the VM runs on the overlay: a discard is refused before anything changes.
    const discard = await fails({ kind: "snapshot-discard", vm: name, name: ours });
    expect([discard.code, discard.message]).toEqual([StepErrorCodes.VM_NOT_SHUT_OFF, expect.stringMatching(/is running.*nothing was changed/)]);
    expect(await liveSource()).not.toBe(diskPath);
    expect(overlays()).toHaveLength(1);
    expect(await ok<"snapshot-delete">({ kind: "snapshot-delete", vm: name, name: ours })).toEqual({ deleted: true });
    expect(overlays()).toEqual([]);
    expect(await liveSource()).toBe(diskPath);
    expect(await version()).toBe("v4");
  });
});

describe("hooks run only for a VM of this host, with a VM name and run id of a strict shape", { timeout: 60_000 }, () => {
  const refused: { what: string; vm: string; runId: string; code: string }[] = [
    { what: "an option as the VM name, a command substitution as the run id", vm: "-oProxyCommand=x", runId: "$(id)",
      code: StepErrorCodes.BAD_VM_NAME },
    { what: "an option as the VM name", vm: "-oProxyCommand=touch /tmp/pwned", runId: RUN, code: StepErrorCodes.BAD_VM_NAME },
    { what: "a command substitution as the run id", vm: name, runId: "$(id)", code: StepErrorCodes.BAD_RUN_ID },
    { what: "a run id with more after it", vm: name, runId: `${RUN}; id`, code: StepErrorCodes.BAD_RUN_ID },
    { what: "a run id of another shape", vm: name, runId: "run-42", code: StepErrorCodes.BAD_RUN_ID },
    { what: "a VM that is not defined here", vm: `${prefix}missing`, runId: RUN, code: StepErrorCodes.NO_VM },
    { what: "white space", vm: `${name} other`, runId: RUN, code: StepErrorCodes.BAD_VM_NAME },
    { what: "a newline", vm: `${name}\nNIGHTSHIFT=1`, runId: RUN, code: StepErrorCodes.BAD_VM_NAME },
    { what: "a parent directory", vm: "..", runId: RUN, code: StepErrorCodes.BAD_VM_NAME },
    { what: "an scp remote path", vm: "backup:/etc", runId: RUN, code: StepErrorCodes.BAD_VM_NAME },
    { what: "a shell expansion in the name", vm: "web$(id)", runId: RUN, code: StepErrorCodes.BAD_VM_NAME },
  ];

  it.each(refused)("refuses $what ($code), and the hook does not run", async ({ vm, runId, code }) => {
    const err = await fails({ kind: "hook", vm, path: hook, runId, timeoutMs: 10_000 });
    expect(err.code, err.message).toBe(code);
    expect(fs.existsSync(ranFile)).toBe(false);
  });

  it("check-allowed counts the hook as refused for a VM name a hook may not be given, so the pre-check skips the VM", async () => {
    expect(await ok<"check-allowed">({ kind: "check-allowed", vm: "-oProxyCommand=x", guestCommands: [], hooks: [hook] }))
      .toEqual({ deniedCommands: [], deniedHooks: [hook], refusals: [{ item: hook, reason: expect.stringMatching(/VM name "-oProxyCommand=x"/) }] });
    expect(await ok<"check-allowed">({ kind: "check-allowed", vm: name, guestCommands: [], hooks: [hook] }))
      .toEqual({ deniedCommands: [], deniedHooks: [], refusals: [] });
    expect(fs.existsSync(ranFile)).toBe(false);
  });

  it("runs for a VM defined here with a run id of the controller's shape (the same file check says the hook ran)", async () => {
    const out = await ok<"hook">({ kind: "hook", vm: name, path: hook, runId: RUN, timeoutMs: 10_000 });
    expect(out).toMatchObject({ exitCode: 0, signal: null });
    expect(fs.readFileSync(ranFile, "utf8")).toBe(`${name}|${name}|${RUN}\n`);
  });
});
