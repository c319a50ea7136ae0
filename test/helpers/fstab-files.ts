/** fstab files for tests that need big or odd ones: written to a directory, deterministic by seed. */
import fs from "node:fs";
import path from "node:path";
import { random } from "./fleet.js";

/** `size` pseudo-random bytes (all 256 values: NULs, CRs, invalid UTF-8, a newline every ~256 bytes), the same for the same seed. */
export function garbageBytes(size: number, seed: number): Buffer {
  const rnd = random(seed);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) {
    const word = Math.floor(rnd() * 4294967296);
    for (let k = 0; k < 4 && i + k < size; k++) out[i + k] = (word >>> (8 * k)) & 0xff;
  }
  return out;
}

/** One NFS line per server, each server named by a distinct hostname (nofail, _netdev and a timeout, so only the name is at issue). */
export function nfsServerLines(names: readonly string[]): string {
  return names.map((name, i) => `${name}:/export /mnt/nstest-nfs-${i} nfs nofail,_netdev,x-systemd.mount-timeout=30 0 0\n`).join("");
}

/** Writes `content` to `dir/name` and returns the path. */
export function writeFstab(dir: string, name: string, content: string | Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}
