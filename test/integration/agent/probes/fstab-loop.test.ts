/**
 * The fstab probe live, against a real block device: an image file made ext4
 * (mkfs.ext4), attached with `losetup -f --show`, and a temporary fstab that
 * declares it xfs, by /dev/loopN and by UUID=, next to correct and missing
 * entries. The probe runs blkid for real (HostRoot("/", tempFstab)) and must
 * report the mismatch as critical with the line corrected to ext4. Needs root
 * and util-linux (losetup, blkid) and e2fsprogs (mkfs.ext4).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fstabProbe } from "../../../../agent/probes/fstab.js";
import { HostRoot } from "../../../../agent/probes/host-root.js";
import { liveCommands } from "../../../../agent/probes/live-commands.js";
import { runProbes } from "../../../../agent/probes/runner.js";
import { ProbeSettingsSchema } from "../../../../agent/probes/settings.js";
import type { HealthReport } from "../../../../shared/protocol/findings.js";

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

let dir: string;
let image: string;
let loop: string | null = null;
let uuid: string;

beforeAll(() => {
  expect(process.getuid?.(), "losetup needs root").toBe(0);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-fstab-loop-"));
  image = path.join(dir, "disk.img");
  sh("truncate", ["-s", "32M", image]);
  sh("mkfs.ext4", ["-q", "-F", "-L", "nstest-loop", image]);
  loop = sh("losetup", ["-f", "--show", image]);
  expect(loop).toMatch(/^\/dev\/loop\d+$/);
  uuid = sh("blkid", ["-c", "/dev/null", "-o", "value", "-s", "UUID", loop]);
  expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
  fs.mkdirSync(path.join(dir, "bind-source"));
});

afterAll(() => {
  if (loop) {
    try {
      sh("losetup", ["-d", loop]);
    } catch (err) {
      // Still report it: a leaked loop device would pile up across runs.
      console.error(`could not detach ${loop}: ${(err as Error).message}`);
    }
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function probe(fstabText: string): Promise<HealthReport> {
  const file = path.join(dir, `fstab-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(file, fstabText);
  return runProbes([fstabProbe], {
    root: new HostRoot("/", file), commands: liveCommands(), settings: ProbeSettingsSchema.parse({}), libvirt: null, log: pino({ level: "silent" }), now: () => new Date(),
  });
}

describe("fstab probe on a real loop device", () => {
  it("reports ext4 declared as xfs (by device and by UUID) as critical, with the corrected line naming ext4", async () => {
    const lines = [
      `${loop} /mnt/nstest-loop-dev xfs defaults 0 2`,
      `UUID=${uuid}\t/mnt/nstest-loop-uuid\txfs\tdefaults\t0\t2`,
      `LABEL=nstest-loop /mnt/nstest-loop-label ext4 defaults 0 2`,
      `UUID=${uuid} /mnt/nstest-loop-nofail xfs defaults,nofail 0 2`,
    ];
    const r = await probe(lines.join("\n") + "\n");
    expect(r.probes).toEqual([expect.objectContaining({ name: "fstab", status: "ok" })]);
    expect(r.findings.map((f) => [f.code, f.severity, f.subject, f.remedy])).toEqual([
      ["NS_FSTAB_TYPE_MISMATCH", "critical", "/mnt/nstest-loop-dev", `${loop} /mnt/nstest-loop-dev ext4 defaults 0 2`],
      ["NS_FSTAB_TYPE_MISMATCH", "critical", "/mnt/nstest-loop-uuid", `UUID=${uuid}\t/mnt/nstest-loop-uuid\text4\tdefaults\t0\t2`],
      ["NS_FSTAB_TYPE_MISMATCH", "warning", "/mnt/nstest-loop-nofail", `UUID=${uuid} /mnt/nstest-loop-nofail ext4 defaults,nofail 0 2`],
    ]);
    expect(r.findings[0]!.message).toBe(`line 1: declared xfs but ${loop} holds ext4 (blkid): mount -t xfs fails, ` +
      "and local-fs.target fails with it and the host boots into emergency mode");
    console.log(`fstab probe, live blkid with a loop device: ${r.probes[0]!.durationMs.toFixed(1)} ms (${r.probes[0]!.detail})`);
  });

  it("probes an image file blkid does not list on its own, and checks bind sources and missing devices live", async () => {
    const r = await probe([
      `${image} /mnt/nstest-img xfs loop 0 0`,
      `${image} /mnt/nstest-img-ok ext4 loop 0 0`,
      `UUID=00000000-0000-4000-8000-0000deadbeef /mnt/nstest-gone ext4 defaults 0 2`,
      `${dir}/bind-source /mnt/nstest-bind none bind 0 0`,
      `${dir}/no-such-dir /mnt/nstest-bind-gone none bind 0 0`,
    ].join("\n") + "\n");
    expect(r.findings.map((f) => [f.code, f.severity, f.subject])).toEqual([
      ["NS_FSTAB_TYPE_MISMATCH", "critical", "/mnt/nstest-img"],
      ["NS_FSTAB_DEVICE_MISSING", "critical", "/mnt/nstest-gone"],
      ["NS_FSTAB_DEVICE_MISSING", "critical", "/mnt/nstest-bind-gone"],
    ]);
    expect(r.findings[0]!.remedy).toBe(`${image} /mnt/nstest-img ext4 loop 0 0`);
  });

  it("after the device is detached, the same UUID is missing (blkid is asked afresh, not its cache)", async () => {
    const text = `UUID=${uuid} /mnt/nstest-loop-uuid ext4 defaults 0 2\n`;
    expect((await probe(text)).findings).toEqual([]);
    sh("losetup", ["-d", loop!]);
    loop = null;
    const r = await probe(text);
    expect(r.findings.map((f) => [f.code, f.severity, f.subject])).toEqual([["NS_FSTAB_DEVICE_MISSING", "critical", "/mnt/nstest-loop-uuid"]]);
  });
});

describe("fstab probe live: hostname lookups", () => {
  it("looks each name up once, in parallel, bounded: three lines naming an unresolvable server finish well within one lookup timeout each", async () => {
    const started = performance.now();
    const r = await probe([1, 2, 3].map((i) => `nstest-unresolvable.invalid:/export${i} /mnt/nstest-nfs${i} nfs nofail,_netdev,x-systemd.mount-timeout=30 0 0`).join("\n") + "\n");
    const elapsed = performance.now() - started;
    expect(r.findings.map((f) => [f.code, f.subject])).toEqual([1, 2, 3].map((i) => ["NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME", `/mnt/nstest-nfs${i}`]));
    expect(r.findings[0]!.message).toMatch(/nstest-unresolvable\.invalid does not resolve from here now either$/);
    // getent is given 2 s; three sequential lookups would take up to 6 s.
    expect(elapsed).toBeLessThan(3_500);
  });
});
