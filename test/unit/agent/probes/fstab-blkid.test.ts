/**
 * agent/probes/blkid.ts, which the fstab probe uses: parsing `blkid -o export`,
 * resolving fstab sources in fixture trees, and runTool's bounds (timeout,
 * abort, output cap) with real child processes.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { DeviceResolver, parseBlkidExport } from "../../../../agent/probes/blkid.js";
import { runTool } from "../../../../agent/probes/run-tool.js";
import { HostRoot } from "../../../../agent/probes/host-root.js";
import { recordedCommands } from "../../../../agent/probes/recorded-commands.js";

const fixture = (name: string) => fileURLToPath(new URL(`../../../fixtures/hosts/${name}`, import.meta.url));
const signal = new AbortController().signal;
const recorded = (name: string) => recordedCommands(new HostRoot(fixture(name)));

describe("parseBlkidExport", () => {
  it("reads blocks separated by blank lines and undoes blkid's backslash escapes", () => {
    const text = "DEVNAME=/dev/loop0\nLABEL=my\\ data\nUUID=38ae\nTYPE=ext4\n\nDEVNAME=/dev/loop1\nLABEL=sw\\$ap\nTYPE=swap\n";
    expect(parseBlkidExport(text)).toEqual([
      { devname: "/dev/loop0", tags: { DEVNAME: "/dev/loop0", LABEL: "my data", UUID: "38ae", TYPE: "ext4" } },
      { devname: "/dev/loop1", tags: { DEVNAME: "/dev/loop1", LABEL: "sw$ap", TYPE: "swap" } },
    ]);
  });

  it("starts a new device at each DEVNAME even without a blank line, and skips junk", () => {
    expect(parseBlkidExport("DEVNAME=/dev/a\nTYPE=xfs\nDEVNAME=/dev/b\nnonsense\nTYPE=ext4").map((d) => [d.devname, d.tags.TYPE]))
      .toEqual([["/dev/a", "xfs"], ["/dev/b", "ext4"]]);
    expect(parseBlkidExport("")).toEqual([]);
    expect(parseBlkidExport("TYPE=ext4\n")).toEqual([]);
  });
});

describe("DeviceResolver in fixture trees", () => {
  it("resolves tags, by-id links to listed devices, /dev/mapper names, and device nodes blkid did not list", async () => {
    const resolver = await DeviceResolver.open(new HostRoot(fixture("escapes-and-kinds")), recorded("escapes-and-kinds"), signal);
    expect(await resolver.resolve("LABEL=vm images")).toMatchObject({ exists: true, device: "/dev/sdb1", fstype: "xfs" });
    expect(await resolver.resolve("PARTLABEL=backups")).toMatchObject({ exists: true, device: "/dev/sdb3", fstype: "btrfs" });
    expect(await resolver.resolve("/dev/disk/by-id/ata-SAMSUNG_MZ7LH960-S45NNE0M123456-part1"))
      .toMatchObject({ exists: true, device: "/dev/sdc1", fstype: "ext4", uuid: "f4a5b6c7-d8e9-4f0a-1b2c-3d4e5f6a7b8c" });
    expect(await resolver.resolve("/dev/mapper/vg0-lv_vms")).toMatchObject({ exists: true, fstype: "xfs" });
    expect(await resolver.resolve("/dev/sr0")).toEqual({ exists: true, device: "/dev/sr0", fstype: null, uuid: null, caseMismatch: null });
    expect(await resolver.resolve("/swapfile")).toMatchObject({ exists: true, fstype: null });
  });

  it("reports what is missing, with a device whose tag differs only in case", async () => {
    const resolver = await DeviceResolver.open(new HostRoot(fixture("missing-device")), recorded("missing-device"), signal);
    expect(await resolver.resolve("/dev/sdc1")).toEqual({ exists: false, device: null, fstype: null, uuid: null, caseMismatch: null });
    expect(await resolver.resolve("none")).toMatchObject({ exists: false });
    const upper = await resolver.resolve("UUID=9B1D7C3E-5F2A-4B8C-A1D3-E4F5A6B7C8D9");
    expect(upper).toMatchObject({ exists: false, caseMismatch: { devname: "/dev/sdb1" } });
  });

  it("fails with NS_ERR_BLKID when the tree has no recorded blkid output", async () => {
    await expect(DeviceResolver.open(new HostRoot(fixture("no-blkid")), recorded("no-blkid"), signal)).rejects.toMatchObject({ code: "NS_ERR_BLKID" });
  });
});

describe("runTool", () => {
  it("returns exit code and output", async () => {
    expect(await runTool("sh", ["-c", "echo out; echo err >&2; exit 3"], { signal, timeoutMs: 5000 }))
      .toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
  });

  it("settles at the timeout, not when the child ends, and kills it", async () => {
    const started = performance.now();
    await expect(runTool("sh", ["-c", "trap '' TERM; sleep 30"], { signal, timeoutMs: 200 }))
      .rejects.toMatchObject({ code: "NS_ERR_PROBE_COMMAND", message: "sh -c trap '' TERM; sleep 30: no answer within 200 ms" });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("settles at once when the probe's signal is aborted, and refuses to start after", async () => {
    const controller = new AbortController();
    const pending = runTool("sleep", ["30"], { signal: controller.signal, timeoutMs: 60_000 });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ code: "NS_ERR_PROBE_COMMAND", message: "sleep 30: stopped: This operation was aborted" });
    await expect(runTool("true", [], { signal: controller.signal, timeoutMs: 1000 })).rejects.toMatchObject({ code: "NS_ERR_PROBE_COMMAND" });
  });

  it("caps the output and names a missing command", async () => {
    await expect(runTool("head", ["-c", "100000", "/dev/zero"], { signal, timeoutMs: 5000, maxBytes: 1000 }))
      .rejects.toMatchObject({ message: "head -c 100000 /dev/zero: more than 1000 bytes of output" });
    await expect(runTool("no-such-command-ns", [], { signal, timeoutMs: 1000 }))
      .rejects.toMatchObject({ code: "NS_ERR_PROBE_COMMAND", message: "no-such-command-ns: spawn no-such-command-ns ENOENT" });
  });
});
