/**
 * The capped shell wrapper of guest-shell.ts, run here by this host's shells
 * (/bin/sh, and busybox sh and bash where installed; a guest runs the same
 * script with its own /bin/sh): exit status, stream separation, caps, and that
 * a cut never closes the command's pipe early.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cappedShellArgs } from "../../../../agent/maintenance/guest-shell.js";

const SHELLS = [["/bin/sh"], ["busybox", "sh"], ["bash"]]
  .filter(([cmd, ...args]) => spawnSync(cmd!, [...args, "-c", "exit 0"]).status === 0);

describe.each(SHELLS.map((argv) => ({ shell: argv.join(" "), argv })))("the capped guest shell in $shell", ({ argv }) => {
  function run(command: string, maxBytes = 10) {
    const [cmd, ...args] = argv;
    const r = spawnSync(cmd!, [...args, ...cappedShellArgs(command, maxBytes)], { encoding: "utf8", timeout: 20_000 });
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  }

  it("passes short output and the command's exit status through", () => {
    expect(run("printf 'a\\nb'; printf w >&2; exit 7")).toEqual({ status: 7, signal: null, stdout: "a\nb", stderr: "w" });
    expect(run("true")).toEqual({ status: 0, signal: null, stdout: "", stderr: "" });
    // The command is its own `sh -c`: `exit` ends it, not the wrapper's bookkeeping.
    expect(run("exit 0; echo never")).toEqual({ status: 0, signal: null, stdout: "", stderr: "" });
  });

  it("keeps one byte past the cap of each stream, and the command runs to its end", () => {
    const out = run("head -c 3000000 /dev/zero | tr '\\0' x && echo done >&2; head -c 50 /dev/zero | tr '\\0' e >&2; exit 3");
    expect(out.status).toBe(3);
    expect(out.stdout).toBe("x".repeat(11));
    expect(out.stderr).toBe(`done\n${"e".repeat(6)}`);
  });

  it("a command killed by a signal is exit 128+N", () => {
    expect(run("kill -9 $$").status).toBe(137);
  });

  it("the command gets none of the wrapper's extra descriptors", () => {
    // `true >&N` fails when descriptor N is not open (`true`, not `:`: a special builtin's failed redirection ends dash).
    for (const fd of [3, 4, 5, 7]) expect(run(`{ true >&${fd}; } 2>/dev/null && echo open || echo closed`).stdout).toBe("closed\n");
    // (and the check can tell: the command's own stdout is open)
    expect(run("{ true >&1; } 2>/dev/null && echo open || echo closed").stdout).toBe("open\n");
  });
});
