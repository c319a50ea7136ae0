/**
 * Does a mount answer? Asked from child processes, never from the agent itself.
 *
 * A hard NFS mount whose server is gone (or a FUSE file system whose daemon is
 * stopped) blocks statfs(2), stat(2) and getdents(2) for as long as it is gone.
 * Done in-process, fs.statfs would pin one of libuv's four thread-pool threads per
 * call, and four hung calls would stall every fs and dns call of the agent. So each
 * check runs two small coreutils/findutils processes, one after the other:
 *
 *   stat -f -c %t -- MOUNTPOINT                             statfs(2): what a hard NFS hang
 *                                                            blocks first; never served from cache
 *   find MOUNTPOINT -mindepth 1 -maxdepth 1 -printf . -quit  open + getdents: hangs too, and
 *                                                            prints "." unless the directory is empty
 *
 * Why not `node -e` with fs.statfsSync + fs.readdirSync (one process): a node child
 * costs ~40 ms of CPU and ~40 MB of memory, and a child blocked in the kernel may
 * live for hours; `stat`/`find` cost ~2 ms and ~1 MB each, are Essential packages
 * in Debian, and take the mount point as an argument (no shell, no quoting).
 *
 * Rules:
 * - One deadline per mount (both commands together). At the deadline the child gets
 *   SIGKILL and the mount is reported hung.
 * - A child blocked in uninterruptible sleep (D state: e.g. a FUSE request already
 *   handed to a daemon that then stopped) does not die on SIGKILL until the mount
 *   answers. It stays tracked; while it lives the mount is reported hung ("stuck")
 *   and no second child is started for it. So at most one child per mount exists.
 * - Every child has an 'exit' handler; libuv reaps it the moment it exits (no
 *   zombies), and the tracker forgets it then. The next check probes afresh and, if
 *   the mount answers, reports it up again (logged as a recovery).
 * - At most `maxConcurrent` (8) children run within their deadline at a time; killed
 *   children that linger do not take a slot, or eight hung mounts would stop every check.
 * - Children are unref'd, so a stuck one never keeps a one-shot command from exiting.
 *
 * State lives in a MountChecker (the probe uses `defaultMountChecker`, one per
 * process), keyed by mount point, so repeated and overlapping probe runs see the
 * children that are still out: an overlapping check of the same mount joins the
 * running one.
 */
import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable } from "node:stream";
import type { Logger } from "../../shared/logging.js";

export type MountAnswer =
  /** Answered statfs and readdir. `empty`: no entries; null when readdir was refused (permissions). */
  | { state: "up"; empty: boolean | null; elapsedMs: number; recoveredAfterMs?: number }
  /**
   * Did not answer in time (`reason: "timeout"`, this check's child was killed), or a
   * child of an earlier check is still blocked (`reason: "stuck"`: not probed again).
   */
  | { state: "hung"; reason: "timeout" | "stuck"; pid: number | null; since: Date; detail: string }
  /** Answered with an error: a dead FUSE daemon (ENOTCONN), a stale NFS handle, EIO. */
  | { state: "error"; error: string; elapsedMs: number }
  /** Not checked: the caller aborted, or the commands could not be started. */
  | { state: "unchecked"; reason: string };

export interface MountCheckRequest {
  mountPoint: string;
  /** Also report whether it is empty (the readdir runs anyway: it can hang too). */
  wantEmpty?: boolean;
}

export interface MountCheckOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** argv (command first) for each step; replaceable in tests. */
export interface MountCommands {
  statfs(mountPoint: string): string[];
  readdir(mountPoint: string): string[];
}

export const COREUTILS_COMMANDS: MountCommands = {
  statfs: (mp) => ["stat", "-f", "-c", "%t", "--", mp],
  // Mount points are absolute, so they cannot be mistaken for an option or expression.
  readdir: (mp) => ["find", mp, "-mindepth", "1", "-maxdepth", "1", "-printf", ".", "-quit"],
};

export interface LiveChild {
  mountPoint: string;
  pid: number | null;
  startedAt: Date;
  /** When it was sent SIGKILL (null: still within its deadline). */
  killedAt: Date | null;
}

interface Outstanding {
  mountPoint: string;
  startedAt: Date;
  killedAt: Date | null;
  pid: number | null;
  /** A child process exists (not yet exited). */
  childAlive: boolean;
  /** The check's answer is settled (children may still linger). */
  done: boolean;
  log: Logger | undefined;
  answer: Promise<MountAnswer>;
}

type StepResult =
  | { kind: "exit"; code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }
  | { kind: "timeout" }
  | { kind: "aborted" }
  | { kind: "spawn-error"; error: string };

const OUTPUT_LIMIT = 4096;
const CHILD_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" };

class Slots {
  private free: number;
  private readonly waiters: (() => void)[] = [];
  constructor(size: number) {
    this.free = size;
  }

  /** Resolves true with a slot, false when the signal aborts first. */
  acquire(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const grant = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve(true);
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(grant);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

/** The part of a coreutils error message after the last ": " ("Stale file handle"). */
function errnoText(stderr: string): string {
  const line = stderr.trim().split("\n").pop() ?? "";
  const i = line.lastIndexOf(": ");
  return (i >= 0 ? line.slice(i + 2) : line).slice(0, 200) || "failed without a message";
}

export class MountChecker {
  private readonly outstanding = new Map<string, Outstanding>();
  /** When each mount was first seen hung (cleared when it answers). */
  private readonly hungSince = new Map<string, number>();
  private readonly slots: Slots;
  private readonly commands: MountCommands;
  private readonly log: Logger | undefined;

  constructor(opts: { maxConcurrent?: number; commands?: MountCommands; log?: Logger } = {}) {
    this.slots = new Slots(opts.maxConcurrent ?? 8);
    this.commands = opts.commands ?? COREUTILS_COMMANDS;
    this.log = opts.log;
  }

  /** Children that have not exited yet: in flight, or killed and blocked in the kernel. */
  liveChildren(): LiveChild[] {
    return [...this.outstanding.values()]
      .filter((o) => o.childAlive)
      .map((o) => ({ mountPoint: o.mountPoint, pid: o.pid, startedAt: o.startedAt, killedAt: o.killedAt }));
  }

  /** Checks every mount point (at most `maxConcurrent` at a time); never rejects. */
  async check(requests: readonly MountCheckRequest[], opts: MountCheckOptions, log?: Logger): Promise<Map<string, MountAnswer>> {
    const answers = await Promise.all(requests.map((r) => this.checkOne(r, opts, log ?? this.log)));
    return new Map(requests.map((r, i) => [r.mountPoint, answers[i]!]));
  }

  private checkOne(req: MountCheckRequest, opts: MountCheckOptions, log: Logger | undefined): Promise<MountAnswer> {
    const prev = this.outstanding.get(req.mountPoint);
    if (prev && !prev.done) return prev.answer; // an overlapping check: join it
    if (prev) {
      // Its check is over but its child has not exited: still blocked in the kernel.
      return Promise.resolve({
        state: "hung", reason: "stuck", pid: prev.pid, since: new Date(this.hungSince.get(req.mountPoint) ?? prev.startedAt.getTime()),
        detail: `the probe started ${prev.startedAt.toISOString()} (pid ${prev.pid ?? "?"}) is still blocked` +
          (prev.killedAt ? ` ${Math.round((Date.now() - prev.killedAt.getTime()) / 1000)} s after SIGKILL` : "") +
          "; not probed again until it returns",
      });
    }
    const entry: Outstanding = {
      mountPoint: req.mountPoint, startedAt: new Date(), killedAt: null, pid: null, childAlive: false, done: false, log,
      answer: Promise.resolve({ state: "unchecked", reason: "not started" }),
    };
    this.outstanding.set(req.mountPoint, entry);
    const unexpected = (err: unknown): MountAnswer => ({ state: "unchecked", reason: `could not run the check: ${err instanceof Error ? err.message : String(err)}` });
    entry.answer = this.run(entry, req, opts).catch(unexpected).then((answer) => {
      entry.done = true;
      if (!entry.childAlive) this.forget(entry);
      this.noteOutcome(req.mountPoint, answer, log);
      return answer;
    });
    return entry.answer;
  }

  private forget(entry: Outstanding): void {
    if (this.outstanding.get(entry.mountPoint) === entry) this.outstanding.delete(entry.mountPoint);
  }

  private noteOutcome(mountPoint: string, answer: MountAnswer, log: Logger | undefined): void {
    if (answer.state === "hung") {
      if (!this.hungSince.has(mountPoint)) {
        this.hungSince.set(mountPoint, answer.since.getTime());
        log?.warn({ mountPoint, detail: answer.detail }, "mount does not answer");
      }
    } else if (answer.state === "up" || answer.state === "error") {
      const since = this.hungSince.get(mountPoint);
      if (since !== undefined) {
        this.hungSince.delete(mountPoint);
        const hungForMs = Date.now() - since;
        if (answer.state === "up") answer.recoveredAfterMs = hungForMs;
        log?.info({ mountPoint, hungForMs, state: answer.state }, "mount answers again");
      }
    }
  }

  private async run(entry: Outstanding, req: MountCheckRequest, opts: MountCheckOptions): Promise<MountAnswer> {
    if (!(await this.slots.acquire(opts.signal))) return { state: "unchecked", reason: "aborted before it started" };
    try {
      const started = performance.now();
      const deadline = started + opts.timeoutMs;
      const elapsed = () => Math.round(performance.now() - started);
      const hung = (what: string): MountAnswer => ({
        state: "hung", reason: "timeout", pid: entry.pid, since: entry.startedAt,
        detail: `${what} did not answer within ${opts.timeoutMs} ms`,
      });

      const statfs = await this.step(entry, this.commands.statfs(req.mountPoint), deadline, opts.signal);
      if (statfs.kind === "timeout") return hung("statfs");
      if (statfs.kind === "aborted") return { state: "unchecked", reason: "aborted" };
      if (statfs.kind === "spawn-error") return { state: "unchecked", reason: `could not run statfs command: ${statfs.error}` };
      if (statfs.code !== 0) {
        const error = errnoText(statfs.stderr);
        // Answered, but not to us (a FUSE mount without allow_other refuses even root): not broken.
        if (error !== "Permission denied") return { state: "error", error: `statfs: ${error}`, elapsedMs: elapsed() };
        return { state: "up", empty: null, elapsedMs: elapsed() };
      }

      const readdir = await this.step(entry, this.commands.readdir(req.mountPoint), deadline, opts.signal);
      if (readdir.kind === "timeout") return hung("readdir");
      if (readdir.kind === "aborted") return { state: "unchecked", reason: "aborted" };
      if (readdir.kind === "spawn-error") return { state: "unchecked", reason: `could not run readdir command: ${readdir.error}` };
      if (readdir.code !== 0) {
        const error = errnoText(readdir.stderr);
        if (error !== "Permission denied") return { state: "error", error: `readdir: ${error}`, elapsedMs: elapsed() };
        return { state: "up", empty: null, elapsedMs: elapsed() };
      }
      return { state: "up", empty: readdir.stdout.length === 0, elapsedMs: elapsed() };
    } finally {
      this.slots.release();
    }
  }

  /** Runs one command until it exits, the deadline passes or the signal aborts (then SIGKILL). */
  private step(entry: Outstanding, argv: string[], deadline: number, signal: AbortSignal | undefined): Promise<StepResult> {
    return new Promise<StepResult>((resolve) => {
      if (signal?.aborted) return resolve({ kind: "aborted" });
      const [command, ...args] = argv as [string, ...string[]];
      let child: ChildProcessByStdio<null, Readable, Readable>;
      try {
        child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], cwd: "/", env: CHILD_ENV });
      } catch (err) {
        // Invalid arguments throw at once (no child, no events).
        return resolve({ kind: "spawn-error", error: err instanceof Error ? err.message : String(err) });
      }
      entry.pid = child.pid ?? null;
      entry.childAlive = true;
      // A stuck child must not keep the process alive (a one-shot `check` has to exit).
      child.unref();
      for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void }).unref?.();

      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => { if (stdout.length < OUTPUT_LIMIT) stdout += d; });
      child.stderr.setEncoding("utf8").on("data", (d: string) => { if (stderr.length < OUTPUT_LIMIT) stderr += d; });

      let settled = false;
      const settle = (r: StepResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve(r);
      };
      const kill = (kind: "timeout" | "aborted") => {
        entry.killedAt = new Date();
        child.kill("SIGKILL");
        settle({ kind });
      };
      const onAbort = () => kill("aborted");
      const timer = setTimeout(() => kill("timeout"), Math.max(0, deadline - performance.now()));
      signal?.addEventListener("abort", onAbort, { once: true });

      const exited = () => {
        if (!entry.childAlive) return;
        entry.childAlive = false;
        if (entry.killedAt) {
          entry.log?.info({ mountPoint: entry.mountPoint, pid: entry.pid, afterKillMs: Date.now() - entry.killedAt.getTime() },
            "killed mount probe exited");
        }
        if (entry.done) this.forget(entry);
      };
      child.on("error", (err) => {
        // Spawning failed (no 'exit' follows), or kill() failed on a child that is gone.
        if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) exited();
        settle({ kind: "spawn-error", error: err.message });
      });
      // The exit handler is what frees the mount for the next probe; 'close' carries all output.
      child.on("exit", exited);
      child.on("close", (code, sig) => settle({ kind: "exit", code, signal: sig, stdout, stderr }));
    });
  }
}

/** The agent's one checker: its state must outlive a probe run. */
export const defaultMountChecker = new MountChecker();
