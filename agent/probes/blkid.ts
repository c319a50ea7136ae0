/**
 * Which block devices exist and what filesystem each really holds, as blkid
 * sees them: an fstab source (UUID=..., LABEL=..., /dev/sdb1, a by-id link) is
 * resolved to a device and its type.
 *
 * One `blkid -c /dev/null -o export` lists every device in /proc/partitions
 * (probed afresh: `-c /dev/null` skips the cache, which can be stale after a
 * mkfs). lsblk is no use here: its FSTYPE comes from the udev database, absent
 * in containers and early boot. A path blkid did not list (a loop image, a
 * device it could not read) is probed on its own. Both go through the probe
 * context's commands: in a host tree the listing is the recorded output in
 * commands/blkid, nothing is probed on its own, and a path exists when blkid
 * listed it or it exists under the root.
 *
 * On this host commands run as child processes under a timeout and the probe's
 * signal; on either the promise settles at once and the child is killed and
 * forgotten, so a blkid stuck in the kernel on a dead disk never holds up the agent.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { NightshiftError, errorMessage } from "../../shared/errors.js";
import type { HostRoot } from "./host-root.js";
import { parseSourceTag, type SourceTag } from "./fstab-parse.js";
import type { HostCommand, HostCommands, ToolResult } from "./commands.js";

export interface BlockDevice {
  devname: string;
  /** blkid's tags: TYPE, UUID, LABEL, PARTUUID, PARTLABEL, BLOCK_SIZE, ... */
  tags: Record<string, string>;
}

/** Undoes blkid's export escaping (a backslash before shell-special characters). */
function unescapeExportValue(value: string): string {
  return value.replace(/\\(.)/g, "$1");
}

/** Parses `blkid -o export`: KEY=value lines, one block per device, blocks separated by blank lines. */
export function parseBlkidExport(text: string): BlockDevice[] {
  const devices: BlockDevice[] = [];
  let current: Record<string, string> = {};
  const flush = () => {
    if (current.DEVNAME) devices.push({ devname: current.DEVNAME, tags: current });
    current = {};
  };
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (line.trim() === "") {
      flush();
      continue;
    }
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    // A second DEVNAME without a blank line between still starts a new device.
    if (key === "DEVNAME" && current.DEVNAME) flush();
    current[key] = unescapeExportValue(line.slice(eq + 1));
  }
  flush();
  return devices;
}

export interface SourceResolution {
  exists: boolean;
  /** The device blkid knows it as, when it does. */
  device: string | null;
  /** blkid's TYPE; null when not probed or unknown (no signature, unreadable). */
  fstype: string | null;
  uuid: string | null;
  /** For a tag no device has: a device whose tag differs only in letter case. */
  caseMismatch: BlockDevice | null;
}

const BLKID_TIMEOUT_MS = 5_000;

/** Every device blkid can see, read afresh. */
export const BLKID_LIST: HostCommand = {
  file: "blkid", args: ["-c", "/dev/null", "-o", "export"], timeoutMs: BLKID_TIMEOUT_MS,
  needsRoot: "blkid cannot read the devices",
  remedy: "run the check as root on a host with blkid (util-linux) installed",
  recorded: { name: "blkid", how: "blkid -o export" },
};

function blkidOf(path: string): HostCommand {
  return { file: "blkid", args: ["-c", "/dev/null", "-o", "export", path], timeoutMs: BLKID_TIMEOUT_MS, needsRoot: "blkid cannot read the devices" };
}

export class DeviceResolver {
  private constructor(
    private readonly root: HostRoot,
    private readonly commands: HostCommands,
    readonly devices: readonly BlockDevice[],
    private readonly signal: AbortSignal,
    /** Where the listing came from, for the probe's detail. */
    readonly origin: string,
  ) {}

  /** Lists the devices; throws NS_ERR_BLKID when blkid is unavailable or fails. */
  static async open(root: HostRoot, commands: HostCommands, signal: AbortSignal): Promise<DeviceResolver> {
    const result = await blkid(commands, BLKID_LIST, signal);
    return new DeviceResolver(root, commands, parseBlkidExport(result.stdout), signal, commands.origin(BLKID_LIST));
  }

  byTag(tag: SourceTag, value: string): BlockDevice | undefined {
    return this.devices.find((d) => d.tags[tag] === value);
  }

  /** `signal`: stops the children of this one resolution (a stage's deadline); default the resolver's. */
  async resolve(source: string, signal: AbortSignal = this.signal): Promise<SourceResolution> {
    const tag = parseSourceTag(source);
    return tag ? this.resolveTag(tag.tag, tag.value, signal) : this.resolvePath(source, signal);
  }

  private async resolveTag(tag: SourceTag, value: string, signal: AbortSignal): Promise<SourceResolution> {
    const device = this.byTag(tag, value);
    if (device) return found(device);
    // udev's links are the other witness (a device blkid could not read still has them).
    if ((tag === "UUID" || tag === "PARTUUID") && await this.exists(`/dev/disk/by-${tag.toLowerCase()}/${value}`, signal)) {
      return { exists: true, device: null, fstype: null, uuid: tag === "UUID" ? value : null, caseMismatch: null };
    }
    const lower = value.toLowerCase();
    const caseMismatch = this.devices.find((d) => d.tags[tag]?.toLowerCase() === lower) ?? null;
    return { exists: false, device: null, fstype: null, uuid: null, caseMismatch };
  }

  private async resolvePath(source: string, signal: AbortSignal): Promise<SourceResolution> {
    const real = source.startsWith("/dev/") ? await this.realpath(source) : source;
    for (const device of this.devices) {
      if (device.devname === source || device.devname === real) return found(device);
    }
    // Device names in the listing may themselves be links (/dev/mapper/vg-lv -> ../dm-3).
    for (const device of this.devices) {
      if (device.devname.startsWith("/dev/") && await this.realpath(device.devname) === real) return found(device);
    }
    if (!await this.exists(source, signal)) return { exists: false, device: null, fstype: null, uuid: null, caseMismatch: null };
    // Not in the listing (a loop image file, a device blkid skipped): probe it alone.
    try {
      const result = await blkid(this.commands, blkidOf(source), signal);
      const [device] = parseBlkidExport(result.stdout);
      if (device) return { ...found(device), device: source };
    } catch {
      // Exists but unreadable (or a host tree, which records no such answer): type unknown.
    }
    return { exists: true, device: source, fstype: null, uuid: null, caseMismatch: null };
  }

  /**
   * Follows symbolic links of a /dev path (by-id, by-uuid, /dev/VG/LV) to the
   * node, in host terms. Link by link rather than fs.realpath, so a recorded
   * link whose node is only in the blkid listing (fixture trees) still resolves.
   */
  private async realpath(hostPath: string): Promise<string> {
    let current = hostPath;
    for (let hops = 0; hops < 40; hops++) {
      let target: string;
      try {
        target = await fs.readlink(this.root.path(current));
      } catch {
        return current; // not a link (EINVAL), or absent
      }
      current = path.posix.resolve(path.posix.dirname(current), target);
    }
    return current;
  }

  /**
   * Whether a host path exists. Under /dev (devtmpfs) a stat is safe; elsewhere
   * the path may sit on a hung network mount, where a stat would pin a libuv
   * thread: the commands ask (on this host, a child process).
   */
  async exists(hostPath: string, signal: AbortSignal = this.signal): Promise<boolean> {
    if (!hostPath.startsWith("/")) return false; // "none", "sdb1": mount finds no such device either
    if (!hostPath.startsWith("/dev/")) return this.commands.exists(hostPath, signal);
    try {
      await fs.stat(this.root.path(hostPath));
      return true;
    } catch {
      return false;
    }
  }
}

function found(device: BlockDevice): SourceResolution {
  return { exists: true, device: device.devname, fstype: device.tags.TYPE ?? null, uuid: device.tags.UUID ?? null, caseMismatch: null };
}

async function blkid(commands: HostCommands, command: HostCommand, signal: AbortSignal): Promise<ToolResult> {
  let result: ToolResult;
  try {
    result = await commands.run(command, signal);
  } catch (err) {
    // The message names the command or its recording, and why.
    throw new NightshiftError("NS_ERR_BLKID", errorMessage(err), { cause: err });
  }
  // 2: nothing found (no device, or no signature); anything else non-zero is a failure.
  if (result.code !== 0 && result.code !== 2) {
    throw new NightshiftError("NS_ERR_BLKID", `blkid ${command.args.join(" ")} exited ${result.code}: ${result.stderr.trim().slice(0, 300)}`);
  }
  return result;
}
