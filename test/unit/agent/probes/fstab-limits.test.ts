/**
 * What bounds the fstab probe's output on a damaged fstab: the read bound
 * (MAX_FSTAB_BYTES, cut at a line end, NS_FSTAB_TOO_LARGE), and the cap per
 * code (FINDINGS_PER_CODE one by one, the rest in one summary), in the fstab
 * and the mounts probe. Real files in a temporary directory.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { FINDINGS_PER_CODE, formatNumberList } from "../../../../agent/probes/finding-cap.js";
import { fstabProbe } from "../../../../agent/probes/fstab.js";
import { MORE_LINES_SUBJECT } from "../../../../agent/probes/fstab-findings.js";
import { MAX_FSTAB_BYTES, readFstab } from "../../../../agent/probes/fstab-read.js";
import { HostRoot } from "../../../../agent/probes/host-root.js";
import { recordedCommands } from "../../../../agent/probes/recorded-commands.js";
import type { AnyProbe } from "../../../../agent/probes/types.js";
import { MORE_MOUNT_POINTS_SUBJECT, mountsProbe } from "../../../../agent/probes/mounts.js";
import { runProbes } from "../../../../agent/probes/runner.js";
import { ProbeSettingsSchema } from "../../../../agent/probes/settings.js";
import { HealthReportSchema, type HealthReport } from "../../../../shared/protocol/findings.js";

const log = pino({ level: "silent" });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-fstab-limits-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(content: string | Buffer): string {
  const p = path.join(dir, `fstab-${n++}`);
  fs.writeFileSync(p, content);
  return p;
}

/** A fixture-like root (no blkid recording: devices unchecked) with its fstab at `fstab`. */
async function probe(fstab: string, probes: AnyProbe[] = [fstabProbe]): Promise<HealthReport> {
  const root = fs.mkdtempSync(path.join(dir, "root-"));
  fs.mkdirSync(path.join(root, "proc/self"), { recursive: true });
  fs.writeFileSync(path.join(root, "proc/self/mountinfo"), "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n");
  const tree = new HostRoot(root, fstab);
  const report = await runProbes(probes, { root: tree, commands: recordedCommands(tree), settings: ProbeSettingsSchema.parse({}), libvirt: null, log, now: () => new Date() });
  HealthReportSchema.parse(report);
  return report;
}

describe("readFstab", () => {
  it("reads a file up to the bound whole, and one byte more cut at the last line end", async () => {
    const line = "/dev/vdb1 /srv ext4 defaults 0 2\n"; // 33 bytes
    const exact = await readFstab(file(line.repeat(3)), 99);
    expect(exact).toEqual({ text: line.repeat(3), size: 99, checkedBytes: 99, truncated: false });
    const over = await readFstab(file(`${line.repeat(3)}x`), 99);
    expect(over).toEqual({ text: line.repeat(3), size: 100, checkedBytes: 99, truncated: true });
    const midLine = await readFstab(file(line.repeat(4)), 50);
    expect(midLine).toEqual({ text: line, size: 132, checkedBytes: 33, truncated: true });
  });

  it("no file is null; a directory or a FIFO is NS_ERR_FSTAB_UNREADABLE at once (a FIFO is not waited on)", async () => {
    expect(await readFstab(path.join(dir, "absent"))).toBeNull();
    await expect(readFstab(dir)).rejects.toMatchObject({ code: "NS_ERR_FSTAB_UNREADABLE", message: `cannot read ${dir}: a directory` });
    const fifo = path.join(dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    await expect(readFstab(fifo)).rejects.toMatchObject({ code: "NS_ERR_FSTAB_UNREADABLE", message: `cannot read ${fifo}: not a regular file` });
  });
});

describe("fstab probe on damaged files", () => {
  it(`lists the first ${FINDINGS_PER_CODE} refused lines one by one and the rest in one finding: "N unparseable lines, first at line K"`, async () => {
    const text = ["/dev/vda1 / ext4 defaults 0 1", "# comment", ...Array.from({ length: 35 }, (_, i) => `garbage-${i}`)].join("\n") + "\n";
    const r = await probe(file(text));
    const unparseable = r.findings.filter((f) => f.code === "NS_FSTAB_UNPARSEABLE");
    expect(unparseable.map((f) => f.subject)).toEqual([...Array.from({ length: 20 }, (_, i) => `line ${i + 3}`), MORE_LINES_SUBJECT]);
    expect(unparseable[20]).toMatchObject({
      severity: "warning",
      message: "35 unparseable lines, first at line 3; the first 20 are listed one by one, the other 15 only here (lines 23-37): " +
        "mount and systemd skip them, so whatever they were meant to mount is not mounted at boot",
    });
    expect(unparseable[20]!.remedy).toContain("findmnt --fstab --verify");
  });

  it("summarises other codes the same way, with the worst severity of those summarised and an example line", async () => {
    const many = Array.from({ length: 25 }, (_, i) => `10.0.0.${i + 1}:/export /mnt/n${i} nfs ${i >= 22 ? "defaults" : "nofail"},_netdev 0 0`);
    const r = await probe(file(many.join("\n") + "\n"));
    const timeout = r.findings.filter((f) => f.code === "NS_FSTAB_NETWORK_NO_TIMEOUT");
    expect(timeout).toHaveLength(21);
    expect(timeout[20]).toMatchObject({ subject: MORE_LINES_SUBJECT, severity: "warning" });
    expect(timeout[20]!.message).toMatch(/^25 lines have this finding, first at line 1; the first 20 are listed one by one, the other 5 only here \(lines 21-25\)\. Line 21: no x-systemd\.mount-timeout=/);
    expect(timeout[20]!.remedy).toBe(`as for the lines listed one by one; for line 21: 10.0.0.21:/export /mnt/n20 nfs nofail,_netdev,x-systemd.mount-timeout=30 0 0`);
    const nofail = r.findings.filter((f) => f.code === "NS_FSTAB_NETWORK_NO_NOFAIL");
    expect(nofail.map((f) => f.severity)).toEqual(["critical", "critical", "critical"]);
  });

  it(`reads at most ${MAX_FSTAB_BYTES} bytes: a larger file is critical NS_FSTAB_TOO_LARGE, and lines past the bound are not judged`, async () => {
    const good = "10.0.0.1:/export /mnt/ok nfs nofail,_netdev,x-systemd.mount-timeout=30 0 0\n";
    const filler = "#".repeat(99) + "\n";
    const body = good + filler.repeat(Math.ceil(MAX_FSTAB_BYTES / filler.length)) + "10.0.0.2:/export /mnt/late nfs defaults 0 0\n";
    const fstab = file(body);
    const r = await probe(fstab);
    const checked = Math.floor((MAX_FSTAB_BYTES - good.length) / filler.length) * filler.length + good.length;
    expect(r.findings.map((f) => [f.code, f.severity, f.subject])).toEqual([["NS_FSTAB_TOO_LARGE", "critical", "fstab"]]);
    expect(r.findings[0]!.message).toBe(`${fstab} is ${Buffer.byteLength(body)} bytes; a written fstab is a few kilobytes, so it is damaged or is ` +
      `not an fstab. Only its first ${checked} bytes (${(checked - good.length) / filler.length + 1} lines) were checked: what mount and systemd make of the rest at boot is unknown`);
    expect(r.probes[0]!.detail).toContain(`in the first ${checked} of ${Buffer.byteLength(body)} bytes`);
  });
});

describe("mounts probe on damaged files", () => {
  it("takes no relative mount point as a target, and caps NS_MOUNT_NOT_MOUNTED per code with the mount points named", async () => {
    const lines = [...Array.from({ length: 30 }, (_, i) => `/dev/vdz${i} /srv/gone-${String(i).padStart(2, "0")} ext4 defaults 0 2`),
      "/dev/vdy1 relative ext4 defaults 0 2", "/dev/vdy2 none ext4 defaults 0 2"];
    const r = await probe(file(lines.join("\n") + "\n"), [mountsProbe]);
    expect(r.facts.mounts!.map((m) => m.mountPoint)).not.toContain("relative");
    expect(r.facts.mounts).toHaveLength(30);
    const notMounted = r.findings.filter((f) => f.code === "NS_MOUNT_NOT_MOUNTED");
    expect(notMounted).toHaveLength(21);
    expect(notMounted[20]).toMatchObject({ subject: MORE_MOUNT_POINTS_SUBJECT, severity: "critical" });
    expect(notMounted[20]!.message).toMatch(/^30 mount points have this finding; the first 20 are listed one by one, the other 10 only here \(\/srv\/gone-20, \/srv\/gone-21, .*, \/srv\/gone-29\)\. \/srv\/gone-20: fstab line 21 mounts/);
  });
});

describe("fstab probe out of time", () => {
  it("past its deadline, names are not looked up and devices not checked, and it says so instead of timing out", async () => {
    const incident = fileURLToPath(new URL("../../../fixtures/hosts/incident", import.meta.url));
    const out = await fstabProbe.collect({
      root: new HostRoot(incident), commands: recordedCommands(new HostRoot(incident)), settings: ProbeSettingsSchema.parse({}), libvirt: null, signal: new AbortController().signal, log,
      now: () => new Date(), deadline: performance.now() - 1,
    });
    const codes = out.findings.map((f) => [f.code, f.severity, f.subject]);
    expect(codes).toContainEqual(["NS_FSTAB_SERVERS_UNCHECKED", "info", "server names"]);
    expect(codes).toContainEqual(["NS_FSTAB_DEVICES_UNCHECKED", "critical", "devices"]);
    expect(codes).not.toContainEqual(expect.arrayContaining(["NS_FSTAB_TYPE_MISMATCH"]));
    const unchecked = out.findings.find((f) => f.code === "NS_FSTAB_SERVERS_UNCHECKED")!;
    expect(unchecked.message).toMatch(/^1 of 1 server names were not looked up within the probe's time \(0 ms for lookups, 8 at a time\): nas01\./);
    const byName = out.findings.filter((f) => f.code === "NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME");
    expect(byName).toHaveLength(2);
    for (const f of byName) {
      expect(f.message).toMatch(/Whether nas01 resolves from here now was not looked up in time \(see NS_FSTAB_SERVERS_UNCHECKED\)$/);
      expect(f.remedy).not.toContain("192.168.10.20");
    }
    expect(out.findings.find((f) => f.code === "NS_FSTAB_DEVICES_UNCHECKED")!.message).toMatch(/^\d+ of \d+ local entries were not checked .*: the probe's time ran out/);
    expect(out.detail).toContain("0 of 1 server names looked up");
  });
});

describe("formatNumberList", () => {
  it("writes runs as ranges and cuts within the width, saying how many are left out", () => {
    expect(formatNumberList([1, 2, 3, 5, 7, 8], 100)).toBe("1-3, 5, 7-8");
    expect(formatNumberList([], 100)).toBe("");
    const odd = Array.from({ length: 1000 }, (_, i) => 2 * i + 1);
    const text = formatNumberList(odd, 60);
    expect(text.length).toBeLessThanOrEqual(60);
    expect(text).toMatch(/^1, 3, 5, .*, … and \d+ more$/);
    const listed = text.split(", ").filter((t) => /^\d+$/.test(t)).length;
    expect(text.endsWith(`and ${1000 - listed} more`)).toBe(true);
  });
});
