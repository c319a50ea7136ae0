/**
 * Reading fstab, with a bound. A written fstab is a few kilobytes; mount and
 * systemd read any size, but a file of megabytes is damaged (or not an fstab
 * at all), and parsing and reporting every line of it would cost the agent's
 * event loop seconds and give a health report far above the protocol's frame
 * limit. So at most MAX_FSTAB_BYTES are read, cut at the last line end, and
 * the file's size is returned: the fstab probe reports what was not checked.
 */
import fs from "node:fs/promises";
import { constants } from "node:fs";
import { NightshiftError, errorMessage } from "../../shared/errors.js";

/** 1 MiB: some ten thousand lines, a hundred times the longest fstab a hypervisor needs. */
export const MAX_FSTAB_BYTES = 1024 * 1024;

export interface FstabText {
  /** The text checked: all of the file, or its first complete lines up to the bound. */
  text: string;
  /** The file's size in bytes. */
  size: number;
  /** How many bytes `text` holds (all of them unless truncated). */
  checkedBytes: number;
  truncated: boolean;
}

/** The fstab's text, or null when there is no such file; NS_ERR_FSTAB_UNREADABLE on any other failure. */
export async function readFstab(file: string, maxBytes = MAX_FSTAB_BYTES): Promise<FstabText | null> {
  let handle: fs.FileHandle;
  try {
    // O_NONBLOCK: a FIFO in fstab's place must not hold a thread until someone writes to it.
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw unreadable(file, err);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw new NightshiftError("NS_ERR_FSTAB_UNREADABLE", `cannot read ${file}: ${stat.isDirectory() ? "a directory" : "not a regular file"}`);
    }
    // One byte more than the bound tells "exactly the bound" from "more". The size is a hint
    // (a file may grow while read): the buffer grows until the end or the bound.
    let buffer = Buffer.alloc(Math.min(maxBytes + 1, stat.size + 1));
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (buffer.length > maxBytes) break;
        const larger = Buffer.alloc(Math.min(maxBytes + 1, buffer.length * 2 + 4096));
        buffer.copy(larger, 0, 0, length);
        buffer = larger;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    const truncated = length > maxBytes;
    let end = Math.min(length, maxBytes);
    if (truncated) {
      // A line cut in two would be judged as a line it is not.
      const lastNewline = buffer.lastIndexOf(0x0a, end - 1);
      if (lastNewline >= 0) end = lastNewline + 1;
    }
    return { text: buffer.toString("utf8", 0, end), size: Math.max(stat.size, length), checkedBytes: end, truncated };
  } catch (err) {
    throw err instanceof NightshiftError ? err : unreadable(file, err);
  } finally {
    await handle.close();
  }
}

function unreadable(file: string, err: unknown): NightshiftError {
  return new NightshiftError("NS_ERR_FSTAB_UNREADABLE", `cannot read ${file}: ${errorMessage(err)}`, { cause: err });
}
