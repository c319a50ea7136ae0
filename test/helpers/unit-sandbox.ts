/**
 * The file-system part of the agent unit's sandbox, for a real agent process
 * on a machine without systemd as PID 1: what `ProtectSystem=strict` with the
 * unit's `StateDirectory=` and `ReadWritePaths=` leaves writable, and nothing
 * else.
 *
 * The agent runs under `unshare -m --propagation private` (a mount namespace
 * of its own, whose changes never reach the host) through a shell script that
 *
 * 1. bind-mounts the test's state directory onto each StateDirectory's
 *    /var/lib/NAME (systemd creates that directory; so does this, mode 0700,
 *    and `cleanup()` removes it again when it made it and it is empty),
 * 2. remounts every mount point of /proc/self/mountinfo read-only
 *    (`mount -o remount,bind,ro MP`), except /proc, /sys, /dev and what is
 *    mounted below them (ProtectSystem=strict leaves those to other settings)
 *    and mounts that are read-only already,
 * 3. makes each writable path writable again (`mount --bind P P && mount -o
 *    remount,bind,rw P`); a missing path with systemd's `-` prefix is skipped,
 *    a missing one without it fails the start, as systemd's would,
 * 4. execs the agent.
 *
 * The writable paths are read from the unit file itself (StateDirectory= and
 * ReadWritePaths= lines of [Service]; an empty assignment resets the list, as
 * in systemd), so a test runs the agent under the unit as shipped, or under a
 * copy with a line removed. Other sandbox settings (PrivateTmp, ProtectHome,
 * system call filters, capabilities) are not emulated here.
 */
import fs from "node:fs";
import path from "node:path";

export interface WritablePath {
  path: string;
  /** systemd's `-` prefix: a missing path is ignored. */
  optional: boolean;
  /** From StateDirectory=: the directory systemd creates under /var/lib. */
  stateDirectory: boolean;
}

/** The [Service] section's assignments, in order, continuation lines joined. */
function serviceAssignments(text: string): { key: string; value: string }[] {
  const lines = text.replace(/\\\n/g, " ").split("\n");
  const out: { key: string; value: string }[] = [];
  let section = "";
  for (const raw of lines) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf("=");
    if (section !== "Service" || eq < 0) continue;
    out.push({ key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() });
  }
  return out;
}

/** What a unit (and its drop-ins, in order) leaves writable under ProtectSystem=strict. */
export function unitWritablePaths(...unitTexts: string[]): WritablePath[] {
  let state: WritablePath[] = [];
  let readWrite: WritablePath[] = [];
  for (const { key, value } of unitTexts.flatMap(serviceAssignments)) {
    if (key === "StateDirectory") {
      if (value === "") state = [];
      for (const name of value.split(/\s+/).filter(Boolean)) {
        // NAME or NAME:SYMLINK; only the directory counts here.
        state.push({ path: path.join("/var/lib", name.split(":")[0]!), optional: false, stateDirectory: true });
      }
    } else if (key === "ReadWritePaths") {
      if (value === "") readWrite = [];
      for (const entry of value.split(/\s+/).filter(Boolean)) {
        // Prefixes: "-" ignores a missing path, "+" means relative to the root directory (none here).
        const optional = /^[-+]*-/.test(entry);
        readWrite.push({ path: entry.replace(/^[-+]+/, ""), optional, stateDirectory: false });
      }
    }
  }
  return [...state, ...readWrite];
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export interface UnitSandbox {
  /** The command to put in front of the agent's command line (`unshare ... script`). */
  prefix: string[];
  /** The paths the sandbox leaves writable. */
  writable: WritablePath[];
  /** The agent's --state-dir inside the sandbox: the unit's (first) StateDirectory. */
  stateDir: string;
  /** Removes the state directory this made on the host, if it is still empty. */
  cleanup(): void;
}

/**
 * A sandbox of `unitFile` (plus drop-in files) for one agent process: writes
 * the script into `dir`, and binds `stateSource` (a directory of the test's)
 * onto the unit's StateDirectory inside the namespace.
 */
export function unitSandbox(options: { unitFile: string; dropIns?: string[]; dir: string; stateSource: string }): UnitSandbox {
  const texts = [options.unitFile, ...(options.dropIns ?? [])].map((f) => fs.readFileSync(f, "utf8"));
  const writable = unitWritablePaths(...texts);
  const stateDir = writable.find((w) => w.stateDirectory)?.path;
  if (!stateDir) throw new Error(`${options.unitFile} has no StateDirectory=: the agent would have nowhere to write its spool`);
  fs.mkdirSync(options.stateSource, { recursive: true, mode: 0o700 });
  const made = !fs.existsSync(stateDir);
  if (made) fs.mkdirSync(stateDir, { mode: 0o700 });

  const q = shellQuote;
  const script = path.join(options.dir, "unit-sandbox.sh");
  fs.writeFileSync(script, [
    "#!/bin/sh",
    "# ProtectSystem=strict with the unit's writable paths; run under unshare -m --propagation private.",
    "set -eu",
    `mount --bind ${q(options.stateSource)} ${q(stateDir)}`,
    // Every mount point not read-only already, parents first (mountinfo's order); octal escapes (\\040) decoded by printf %b.
    "awk '{print $5, $6}' /proc/self/mountinfo | while read -r escaped options; do",
    "  mp=$(printf '%b' \"$escaped\")",
    "  case \"$mp\" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac",
    "  case \",$options,\" in *,ro,*) continue ;; esac",
    "  mount -o remount,bind,ro \"$mp\"",
    "done",
    ...writable.map((w) => w.optional
      ? `if [ -e ${q(w.path)} ]; then mount --bind ${q(w.path)} ${q(w.path)} && mount -o remount,bind,rw ${q(w.path)}; fi`
      : `mount --bind ${q(w.path)} ${q(w.path)} && mount -o remount,bind,rw ${q(w.path)}`),
    'exec "$@"',
    "",
  ].join("\n"), { mode: 0o755 });
  return {
    prefix: ["unshare", "-m", "--propagation", "private", "/bin/sh", script],
    writable,
    stateDir,
    cleanup() {
      if (!made) return;
      try {
        fs.rmdirSync(stateDir);
      } catch {
        // Not empty (something else uses it now) or gone: leave it.
      }
    },
  };
}
