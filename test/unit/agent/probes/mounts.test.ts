/**
 * The mounts probe against fixture trees (test/fixtures/hosts/mounts-*: etc/fstab,
 * proc/self/mountinfo, commands/mount-responsiveness), every rule with its exact
 * code, subject and severity; then the checker with stand-in commands (a "statfs"
 * that sleeps), which shows its bookkeeping without a real hung mount.
 */
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { parseFstab } from "../../../../agent/probes/fstab-parse.js";
import { HostRoot } from "../../../../agent/probes/host-root.js";
import { recordedCommands } from "../../../../agent/probes/recorded-commands.js";
import { MountChecker, type MountCommands } from "../../../../agent/probes/mount-responsiveness.js";
import { parseMountInfo } from "../../../../agent/probes/mountinfo.js";
import { compareOptions, createMountsProbe, mountsProbe, normalizeMountPoint, shellWord } from "../../../../agent/probes/mounts.js";
import { ProbeSettingsSchema } from "../../../../agent/probes/settings.js";
import type { ProbeContext, ProbeOutput } from "../../../../agent/probes/types.js";
import { MountFactSchema, type MountFact } from "../../../../shared/protocol/findings.js";

const fixture = (name: string) => fileURLToPath(new URL(`../../../fixtures/hosts/${name}/`, import.meta.url));
const log = pino({ level: "silent" });

function ctx(root: HostRoot, settings: Record<string, unknown> = {}): ProbeContext {
  return {
    root, commands: recordedCommands(root), settings: ProbeSettingsSchema.parse(settings), libvirt: null, signal: new AbortController().signal, log,
    now: () => new Date("2025-03-01T00:00:00Z"),
  };
}

const run = (name: string, settings: Record<string, unknown> = {}) => mountsProbe.collect(ctx(new HostRoot(fixture(name)), settings));
const codes = (out: ProbeOutput<MountFact[]>) => out.findings.map((f) => [f.code, f.subject, f.severity]);
const states = (out: ProbeOutput<MountFact[]>) => Object.fromEntries((out.fact ?? []).map((m) => [m.mountPoint, m.state]));

describe("mounts probe: the shared fixture hosts", () => {
  it("healthy: every fstab mount point mounted as written, nothing to report", async () => {
    const out = await run("healthy", { neverEmptyMounts: ["/srv/nas"] });
    expect(out.findings).toEqual([]);
    expect(states(out)).toEqual({ "/": "up", "/boot": "up", "/boot/efi": "up", "/srv/data": "up", "/srv/nas": "up" });
    expect(out.fact!.find((m) => m.mountPoint === "/srv/nas")).toEqual({
      mountPoint: "/srv/nas", fstype: "nfs4", source: "192.168.10.20:/vmstore", state: "up", inFstab: true, network: true,
    });
  });

  it("incident: in emergency mode the xfs line (an ext4 disk) and both NFS lines are not mounted; none has nofail", async () => {
    const out = await run("incident");
    expect(codes(out)).toEqual([
      ["NS_MOUNT_NOT_MOUNTED", "/srv/backup", "critical"],
      ["NS_MOUNT_NOT_MOUNTED", "/srv/data", "critical"],
      ["NS_MOUNT_NOT_MOUNTED", "/srv/nas", "critical"],
    ]);
    expect(states(out)).toEqual({ "/": "up", "/boot": "up", "/srv/backup": "missing", "/srv/data": "missing", "/srv/nas": "missing" });
  });

  it("escapes-and-kinds: odd but valid lines (\\040, tags, bind ro, rbind, noauto, swap files, tmpfs) give no finding", async () => {
    const out = await run("escapes-and-kinds");
    expect(out.findings).toEqual([]);
    expect(states(out)).toEqual({
      "/export/backups": "up", "/srv/backups": "up", "/srv/legacy": "up", "/srv/scratch": "up", "/srv/ssd": "up",
      "/srv/vm images": "up", "/var/lib/libvirt/images": "up", "/var/lib/libvirt/iso": "up",
    });
  });
});

describe("mounts probe: the shared fixture hosts with broken fstabs", () => {
  it("broken: refused lines are no mount points, a duplicate mount point counts once (its first line)", async () => {
    const out = await run("broken");
    expect(out.findings).toEqual([]);
    expect(states(out)).toEqual({ "/": "up", "/srv/data": "up", "/srv/nas": "up" });
    expect(out.fact!.find((m) => m.mountPoint === "/srv/nas")!.source).toBe("10.0.0.5:/vmstore");
  });

  it("missing-device: lines whose device is gone are not mounted; an untriggered automount is not", async () => {
    const out = await run("missing-device");
    expect(codes(out)).toEqual([
      ["NS_MOUNT_NOT_MOUNTED", "/mnt/backup", "warning"],
      ["NS_MOUNT_NOT_MOUNTED", "/srv/data", "critical"],
      ["NS_MOUNT_NOT_MOUNTED", "/srv/export", "critical"],
      ["NS_MOUNT_NOT_MOUNTED", "/srv/old", "critical"],
      ["NS_MOUNT_NOT_MOUNTED", "/srv/spare", "critical"],
    ]);
    // /mnt/archive is noauto; /srv/export-ro is a read-only bind and mounted as such.
    expect(states(out)).toMatchObject({ "/srv/media": "up", "/srv/export-ro": "up", "/srv/scratch": "up" });
    expect(states(out)).not.toHaveProperty("/mnt/archive");
  });
});

describe("mounts probe: not mounted", () => {
  it("reports fstab mount points that should be mounted but are not, critical without nofail", async () => {
    const out = await run("mounts-not-mounted", { neverEmptyMounts: ["/var/lib/nightshift-images/"] });
    expect(out.status).toBe("ok");
    expect(codes(out)).toEqual([
      ["NS_MOUNT_NOT_MOUNTED", "/mnt/backup", "warning"],
      ["NS_MOUNT_NOT_MOUNTED", "/srv/scratch", "warning"],
      ["NS_MOUNT_NOT_MOUNTED", "/var/lib/libvirt/images", "critical"],
      ["NS_MOUNT_NOT_MOUNTED", "/var/lib/nightshift-images", "warning"],
    ]);
    // noauto (/mnt/usb), swap, proc and tmpfs are not mount points to report; the untriggered
    // automount (/srv/iso, autofs on top) counts as mounted.
    expect(states(out)).toEqual({
      "/": "up", "/mnt/backup": "missing", "/srv/iso": "up", "/srv/scratch": "missing",
      "/var/lib/libvirt/images": "missing", "/var/lib/nightshift-images": "missing",
    });
    const images = out.findings.find((f) => f.subject === "/var/lib/libvirt/images")!;
    expect(images.message).toContain("fstab line 7 mounts nas01:/export/images (nfs4)");
    expect(images.message).toContain("no nofail");
    expect(images.remedy).toContain("mount /var/lib/libvirt/images");
    expect(out.findings.find((f) => f.subject === "/var/lib/nightshift-images")!.message).toContain("neverEmptyMounts");
    const facts = out.fact!;
    for (const m of facts) expect(MountFactSchema.parse(m)).toEqual(m);
    expect(facts.find((m) => m.mountPoint === "/var/lib/libvirt/images")).toEqual({
      mountPoint: "/var/lib/libvirt/images", fstype: "nfs4", source: "nas01:/export/images", state: "missing", inFstab: true, network: true,
    });
    expect(facts.find((m) => m.mountPoint === "/var/lib/nightshift-images")).toMatchObject({ inFstab: false, network: false });
  });
});

describe("mounts probe: hung, error, empty", () => {
  it("reports hung, erroring and empty mounts from the recorded answers, also network mounts fstab does not list", async () => {
    const out = await run("mounts-hung", { neverEmptyMounts: ["/srv/iso", "/var/lib/libvirt/images"], mountTimeout: "3s" });
    expect(codes(out)).toEqual([
      ["NS_MOUNT_HUNG", "/mnt/cifs", "critical"],
      ["NS_MOUNT_ERROR", "/opt/tools", "critical"],
      ["NS_MOUNT_EMPTY", "/srv/iso", "critical"],
      ["NS_MOUNT_HUNG", "/var/lib/libvirt/images", "critical"],
    ]);
    // "/srv/vms local" is empty but not marked never-empty: fine. gvfs is FUSE, hence looked at.
    expect(states(out)).toEqual({
      "/": "up", "/mnt/cifs": "hung", "/opt/tools": "hung", "/run/user/1000/gvfs": "up", "/srv/iso": "empty",
      "/srv/vms local": "up", "/var/lib/libvirt/images": "hung",
    });
    const byMp = (mp: string) => out.fact!.find((m) => m.mountPoint === mp);
    expect(byMp("/mnt/cifs")).toEqual({ mountPoint: "/mnt/cifs", fstype: "cifs", source: "//fs01/scratch", state: "hung", inFstab: false, network: true });
    expect(byMp("/srv/vms local")).toMatchObject({ fstype: "xfs", inFstab: true, network: false });
    expect(byMp("/opt/tools")).toMatchObject({ fstype: "fuse.sshfs", source: "admin@jump01:/srv/tools", network: true });

    const f = (mp: string) => out.findings.find((x) => x.subject === mp)!;
    expect(f("/var/lib/libvirt/images").message).toContain("nfs4 from nas01:/export/images");
    expect(f("/var/lib/libvirt/images").remedy).toContain("rpcinfo -t nas01 nfs");
    expect(f("/var/lib/libvirt/images").remedy).toContain("umount -f /var/lib/libvirt/images");
    expect(f("/var/lib/libvirt/images").remedy).toContain("umount -l /var/lib/libvirt/images");
    expect(f("/mnt/cifs").remedy).toContain("Check fs01");
    expect(f("/opt/tools").message).toContain("Transport endpoint is not connected");
    expect(f("/opt/tools").remedy).toContain("fusermount -u -z /opt/tools");
    expect(f("/srv/iso").remedy).toContain("findmnt /srv/iso");
  });

  it("without recorded answers every mount is up (a fixture tree cannot touch real mounts)", async () => {
    const out = await run("mounts-options-differ");
    expect(Object.values(states(out)).every((s) => s === "up")).toBe(true);
    expect(out.findings.some((f) => f.code === "NS_MOUNT_HUNG")).toBe(false);
  });
});

describe("mounts probe: options", () => {
  it("reports options in effect that differ from fstab, one finding per mount, at the worst difference's severity", async () => {
    const out = await run("mounts-options-differ");
    expect(codes(out)).toEqual([
      ["NS_MOUNT_OPTIONS_DIFFER", "/", "critical"],
      ["NS_MOUNT_OPTIONS_DIFFER", "/data", "warning"],
      ["NS_MOUNT_OPTIONS_DIFFER", "/home", "info"],
      ["NS_MOUNT_OPTIONS_DIFFER", "/mnt/share", "info"],
      ["NS_MOUNT_OPTIONS_DIFFER", "/srv/vms", "warning"],
      ["NS_MOUNT_OPTIONS_DIFFER", "/var/log", "info"],
    ]);
    const msg = (mp: string) => out.findings.find((x) => x.subject === mp)!.message;
    expect(msg("/")).toContain("rw/ro: fstab rw, mounted ro");
    expect(out.findings.find((x) => x.subject === "/")!.remedy).toContain("mount -o remount,rw /");
    expect(msg("/data")).toContain("rw/ro: fstab ro, mounted rw");
    expect(msg("/home")).toContain("nodev: fstab nodev, mounted dev");
    expect(msg("/home")).not.toContain("nosuid");
    expect(msg("/mnt/share")).toBe("/mnt/share runs with options that differ from fstab line 7: noexec: fstab exec, mounted noexec.");
    expect(msg("/srv/vms")).toContain("hard/soft: fstab soft, mounted hard");
    expect(msg("/var/log")).toContain("atime: fstab noatime, mounted relatime");
  });

  it("compareOptions: bind entries by the per-mount flag, others by the super block; read-only-only types skipped", () => {
    const mi = (line: string) => parseMountInfo(line).entries[0]!;
    const entry = (opts: string, bind = false) => ({ options: opts.split(","), bind });
    // The agent's systemd sandbox lays read-only binds over the host: per-mount ro, super-block rw.
    expect(compareOptions(entry("defaults"), mi("66 27 254:65 / /var/lib/c ro,relatime - xfs /dev/vde1 rw"))).toEqual([]);
    expect(compareOptions(entry("bind", true), mi("65 27 254:1 /srv/a /b ro,relatime - ext4 /dev/vda1 rw"))).toEqual([
      { option: "rw/ro", fstab: "rw", mounted: "ro", severity: "critical" },
    ]);
    expect(compareOptions(entry("defaults"), mi("67 27 11:0 / /cd ro - iso9660 /dev/sr0 ro"))).toEqual([]);
    // A later option overrides an earlier one; noatime implies nodiratime.
    expect(compareOptions(entry("users,exec,suid"), mi("1 2 0:1 / /m rw,nodev,relatime - ext4 /dev/x rw"))).toEqual([]);
    expect(compareOptions(entry("noatime,nodiratime"), mi("1 2 0:1 / /m rw,noatime - ext4 /dev/x rw"))).toEqual([]);
    expect(compareOptions(entry("strictatime"), mi("1 2 0:1 / /m rw - ext4 /dev/x rw"))).toEqual([]);
    // Kernels that do not print "hard" mean hard; softerr counts as soft.
    expect(compareOptions(entry("hard"), mi("1 2 0:1 / /n rw - nfs4 s:/e rw,vers=4.2"))).toEqual([]);
    expect(compareOptions(entry("soft"), mi("1 2 0:1 / /n rw - nfs s:/e rw,softerr"))).toEqual([]);
    // hard/soft means nothing to other types.
    expect(compareOptions(entry("soft"), mi("1 2 0:1 / /n rw - cifs //s/e rw"))).toEqual([]);
  });
});

describe("mounts probe: edges", () => {
  it("is not applicable without mountinfo, or with nothing to look at", async () => {
    const out = await mountsProbe.collect(ctx(new HostRoot(fixture("no-systemd"))));
    expect(out).toMatchObject({ status: "not-applicable", findings: [], fact: [] });
  });

  it("reads fstab from the HostRoot's override", async () => {
    const root = new HostRoot(fixture("mounts-hung"), fixture("mounts-not-mounted") + "etc/fstab");
    const out = await mountsProbe.collect(ctx(root));
    // That fstab's images line is nfs4 without nofail, and mounted here: no NOT_MOUNTED for it.
    expect(out.findings.filter((f) => f.code === "NS_MOUNT_NOT_MOUNTED").map((f) => f.subject)).toEqual(["/mnt/backup", "/srv/scratch"]);
  });

  it("quotes mount points in remedies when the shell would split or expand them", async () => {
    expect(shellWord("/srv/nas")).toBe("/srv/nas");
    expect(shellWord("/srv/vm images")).toBe("'/srv/vm images'");
    expect(shellWord("/it's")).toBe("'/it'\\''s'");
    const out = await run("mounts-hung", { neverEmptyMounts: ["/srv/vms local"] });
    expect(out.findings.find((f) => f.subject === "/srv/vms local")).toMatchObject({
      code: "NS_MOUNT_EMPTY", remedy: expect.stringContaining("`findmnt '/srv/vms local'`"),
    });
  });

  it("normalizes mount points as mountinfo writes them", () => {
    expect(normalizeMountPoint("/mnt/backup/")).toBe("/mnt/backup");
    expect(normalizeMountPoint("/mnt//a/./b")).toBe("/mnt/a/b");
    expect(normalizeMountPoint("/")).toBe("/");
  });

  it("uses the shared fstab parser (a line with \\040 names the mount point with a space)", () => {
    const { entries } = parseFstab("/dev/x /srv/vms\\040local xfs defaults 0 2\n");
    expect(entries[0]!.mountPoint).toBe("/srv/vms local");
  });
});

// --- the checker, with stand-in commands -------------------------------------------

/** "statfs" sleeps for the seconds in the mount point's last path component; "readdir" prints "." unless told "empty". */
const SLEEPY: MountCommands = {
  statfs: (mp) => ["sleep", mp.split("/").pop()!.replace(/[^0-9.]/g, "") || "0"],
  readdir: (mp) => (mp.includes("empty") ? ["true"] : ["printf", "."]),
};

describe("MountChecker (stand-in commands)", () => {
  it("answers up with emptiness, and hung at the deadline (child killed and reaped)", async () => {
    const checker = new MountChecker({ commands: SLEEPY });
    const t0 = performance.now();
    const answers = await checker.check([{ mountPoint: "/a/0" }, { mountPoint: "/empty/0" }, { mountPoint: "/slow/30" }], { timeoutMs: 300 });
    const took = performance.now() - t0;
    expect(answers.get("/a/0")).toMatchObject({ state: "up", empty: false });
    expect(answers.get("/empty/0")).toMatchObject({ state: "up", empty: true });
    expect(answers.get("/slow/30")).toMatchObject({ state: "hung", reason: "timeout", detail: "statfs did not answer within 300 ms" });
    expect(took).toBeLessThan(1500);
    // sleep dies on SIGKILL at once: the tracker forgets it when its exit arrives.
    await new Promise((r) => setTimeout(r, 100));
    expect(checker.liveChildren()).toEqual([]);
  });

  it("runs at most maxConcurrent children at a time", async () => {
    const checker = new MountChecker({ commands: SLEEPY, maxConcurrent: 2 });
    const t0 = performance.now();
    const answers = await checker.check(["/1/0.2", "/2/0.2", "/3/0.2", "/4/0.2"].map((mountPoint) => ({ mountPoint })), { timeoutMs: 5000 });
    expect([...answers.values()].every((a) => a.state === "up")).toBe(true);
    // Two waves of 200 ms.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(390);
  });

  it("an overlapping check of the same mount joins the running one (one child)", async () => {
    const checker = new MountChecker({ commands: SLEEPY });
    const first = checker.check([{ mountPoint: "/j/0.3" }], { timeoutMs: 2000 });
    await new Promise((r) => setTimeout(r, 50));
    expect(checker.liveChildren()).toHaveLength(1);
    const second = checker.check([{ mountPoint: "/j/0.3" }], { timeoutMs: 2000 });
    expect(checker.liveChildren()).toHaveLength(1);
    const [a, b] = await Promise.all([first, second]);
    expect(a.get("/j/0.3")).toBe(b.get("/j/0.3"));
  });

  it("reports an answered error with the errno text, and Permission denied as answered", async () => {
    const checker = new MountChecker({
      commands: {
        statfs: (mp) => ["sh", "-c", `echo "stat: cannot read file system information for '${mp}': ${mp.includes("stale") ? "Stale file handle" : "Permission denied"}" >&2; exit 1`],
        readdir: () => ["true"],
      },
    });
    const answers = await checker.check([{ mountPoint: "/stale" }, { mountPoint: "/private" }], { timeoutMs: 2000 });
    expect(answers.get("/stale")).toMatchObject({ state: "error", error: "statfs: Stale file handle" });
    expect(answers.get("/private")).toMatchObject({ state: "up", empty: null });
  });

  it("kills its children when the signal aborts, and reports those mounts unchecked", async () => {
    const checker = new MountChecker({ commands: SLEEPY, maxConcurrent: 1 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const answers = await checker.check([{ mountPoint: "/x/30" }, { mountPoint: "/y/30" }], { timeoutMs: 10_000, signal: ac.signal });
    expect(answers.get("/x/30")).toMatchObject({ state: "unchecked", reason: "aborted" });
    expect(answers.get("/y/30")).toMatchObject({ state: "unchecked", reason: "aborted before it started" });
    await new Promise((r) => setTimeout(r, 100));
    expect(checker.liveChildren()).toEqual([]);
  });

  it("a command that cannot be started fails the probe (not the mount)", async () => {
    const checker = new MountChecker({ commands: { statfs: () => ["/nonexistent/stat"], readdir: () => ["true"] } });
    const answers = await checker.check([{ mountPoint: "/a" }], { timeoutMs: 1000 });
    expect(answers.get("/a")).toMatchObject({ state: "unchecked", reason: expect.stringContaining("could not run statfs command") });
    expect(checker.liveChildren()).toEqual([]);
    // spawn() throws at once for an argument with a NUL byte: still an answer, and nothing left tracked.
    const real = new MountChecker();
    expect((await real.check([{ mountPoint: "/bad\0name" }], { timeoutMs: 1000 })).get("/bad\0name")).toMatchObject({ state: "unchecked" });
    expect(real.liveChildren()).toEqual([]);
    expect((await real.check([{ mountPoint: "/" }], { timeoutMs: 5000 })).get("/")).toMatchObject({ state: "up", empty: false });
    const probe = createMountsProbe(checker);
    // A live root: the probe's own /proc/self/mountinfo and a fixture fstab.
    await expect(probe.collect(ctx(new HostRoot("/", fixture("mounts-not-mounted") + "etc/fstab")))).rejects.toThrow(/could not run statfs command/);
  });
});
