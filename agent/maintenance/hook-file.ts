/**
 * Whether a listed hook file is safe to run as the agent (usually root). The
 * checks are those sshd's StrictModes makes for authorized_keys: whoever can
 * write the file, or replace it through a directory above it, could otherwise
 * run anything as the agent by waiting for the next maintenance window.
 */
import fs from "node:fs/promises";
import path from "node:path";

export interface HookFileOptions {
  /** The uid besides root that may own the file and its directories; the agent's own by default. */
  uid?: number;
}

/** Null when the file may run; else the reason it may not, for the operator. */
export async function hookFileRefusal(hookPath: string, options: HookFileOptions = {}): Promise<string | null> {
  const uid = options.uid ?? process.getuid?.() ?? 0;
  const trusted = (owner: number) => owner === 0 || owner === uid;
  let real: string;
  try {
    // Checked on the file the symlinks lead to: that is what runs.
    real = await fs.realpath(hookPath);
  } catch (err) {
    return `hook ${hookPath} cannot be found: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  const shown = real === hookPath ? hookPath : `${hookPath} (-> ${real})`;
  const st = await fs.stat(real);
  if (!st.isFile()) return `hook ${shown} is not a regular file`;
  if ((st.mode & 0o111) === 0) return `hook ${shown} is not executable (mode ${octal(st.mode)}): chmod 0755 it`;
  if (!trusted(st.uid)) return `hook ${shown} is owned by uid ${st.uid}, not by root or the agent's uid ${uid}: chown root it`;
  if ((st.mode & 0o022) !== 0) {
    return `hook ${shown} is group- or world-writable (mode ${octal(st.mode)}): anyone who can write it could run commands as the agent; ` +
      "chmod go-w it";
  }
  for (let dir = path.dirname(real); ; dir = path.dirname(dir)) {
    const ds = await fs.stat(dir);
    if (!trusted(ds.uid)) return `hook ${shown}: its directory ${dir} is owned by uid ${ds.uid}, not by root or the agent's uid ${uid}`;
    // A sticky directory (/tmp) lets only the owner rename or delete the file, so others cannot swap it.
    if ((ds.mode & 0o022) !== 0 && (ds.mode & 0o1000) === 0) {
      return `hook ${shown}: its directory ${dir} is group- or world-writable (mode ${octal(ds.mode)}), so others could replace the hook`;
    }
    if (dir === path.dirname(dir)) return null;
  }
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}
