/**
 * Which block devices exist and what filesystem each really holds, as blkid
 * sees them: an fstab source (UUID=..., LABEL=..., /dev/sdb1, a by-id link) is
 * resolved to a device and its type.
 *
 * Live, one `blkid -c /dev/null -o export` lists every device in
 * /proc/partitions (probed afresh: `-c /dev/null` skips the cache, which can be
 * stale after a mkfs). lsblk is no use here: its FSTYPE comes from the udev
 * database, absent in containers and early boot. A path blkid did not list
 * (a loop image, a device it could not read) is probed on its own. In a fixture
 * tree the listing is the recorded output in commands/blkid, and a path exists
 * when blkid listed it or it exists under the root.
 *
 * Commands run as child processes under a timeout and the probe's signal; on
 * either the promise settles at once and the child is killed and forgotten, so
 * a blkid stuck in the kernel on a dead disk never holds up the agent.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { NightshiftError, errorMessage } from "../../shared/errors.js";
import type { HostRoot } from "./host-root.js";
import { parseSourceTag, type SourceTag } from "./fstab-parse.js";
import { runTool, type ToolResult } from "./run-tool.js";

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
const TEST_TIMEOUT_MS = 2_000;

export class DeviceResolver {
  private constructor(
    private readonly root: HostRoot,
    readonly devices: readonly BlockDevice[],
    private readonly signal: AbortSignal,
    /** Where the listing came from, for the probe's detail. */
    readonly origin: string,
  ) {}

  /** Lists the devices; throws NS_ERR_BLKID when blkid is unavailable or fails. */
  static async open(root: HostRoot, signal: AbortSignal): Promise<DeviceResolver> {
    const recorded = root.commandOutput("blkid");
    if (recorded !== null) {
      let text: string;
      try {
        text = await fs.readFile(recorded, "utf8");
      } catch (err) {
        const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "" : `: ${errorMessage(err)}`;
        throw new NightshiftError("NS_ERR_BLKID", `no recorded blkid output at ${recorded}${why}`);
      }
      return new DeviceResolver(root, parseBlkidExport(text), signal, recorded);
    }
    const result = await blkid(["-c", "/dev/null", "-o", "export"], signal);
    return new DeviceResolver(root, parseBlkidExport(result.stdout), signal, "blkid -c /dev/null -o export");
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
    if (this.root.isLive) {
      // Not in the listing (a loop image file, a device blkid skipped): probe it alone.
      try {
        const result = await blkid(["-c", "/dev/null", "-o", "export", source], signal);
        const [device] = parseBlkidExport(result.stdout);
        if (device) return { ...found(device), device: source };
      } catch {
        // Exists but unreadable: type unknown.
      }
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
   * Whether a host path exists. Under /dev (devtmpfs) or in a fixture tree a
   * stat is safe; elsewhere on a live host the path may sit on a hung network
   * mount, where a stat would pin a libuv thread: ask a child process instead.
   */
  async exists(hostPath: string, signal: AbortSignal = this.signal): Promise<boolean> {
    if (!hostPath.startsWith("/")) return false; // "none", "sdb1": mount finds no such device either
    if (!this.root.isLive || hostPath.startsWith("/dev/")) {
      try {
        await fs.stat(this.root.path(hostPath));
        return true;
      } catch {
        return false;
      }
    }
    const result = await runTool("test", ["-e", hostPath], { signal, timeoutMs: TEST_TIMEOUT_MS });
    return result.code === 0;
  }
}

function found(device: BlockDevice): SourceResolution {
  return { exists: true, device: device.devname, fstype: device.tags.TYPE ?? null, uuid: device.tags.UUID ?? null, caseMismatch: null };
}

async function blkid(args: string[], signal: AbortSignal): Promise<ToolResult> {
  let result: ToolResult;
  try {
    result = await runTool("blkid", args, { signal, timeoutMs: BLKID_TIMEOUT_MS });
  } catch (err) {
    throw new NightshiftError("NS_ERR_BLKID", `blkid failed: ${errorMessage(err)}`, { cause: err });
  }
  // 2: nothing found (no device, or no signature); anything else non-zero is a failure.
  if (result.code !== 0 && result.code !== 2) {
    throw new NightshiftError("NS_ERR_BLKID", `blkid ${args.join(" ")} exited ${result.code}: ${result.stderr.trim().slice(0, 300)}`);
  }
  return result;
}
