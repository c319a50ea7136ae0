/**
 * A private libvirtd for tests that must configure or kill the daemon
 * (keepalive, loss of connection) without disturbing the system one: it runs
 * as an unprivileged user in its own XDG directories, so its socket, pid file
 * and driver state are all its own.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const TEST_DAEMON_USER = "nightshift-test";

export interface SessionDaemon {
  socketPath: string;
  process: ChildProcess;
  /** Sends a signal to the daemon itself. */
  signal(sig: NodeJS.Signals): void;
  /** Kills it and removes its directories. */
  stop(): Promise<void>;
}

export interface SessionDaemonOptions {
  keepaliveInterval?: number;
  keepaliveCount?: number;
}

/** The unprivileged user the private daemon and access-denied tests run as. */
export function ensureTestUser(): void {
  try {
    execFileSync("id", ["-u", TEST_DAEMON_USER], { stdio: "ignore" });
  } catch {
    execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_DAEMON_USER]);
  }
}

export async function startSessionDaemon(options: SessionDaemonOptions = {}): Promise<SessionDaemon> {
  ensureTestUser();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "ns-libvirtd-"));
  const dirs = { config: path.join(home, "config"), run: path.join(home, "run"), cache: path.join(home, "cache"), data: path.join(home, "data") };
  for (const dir of Object.values(dirs)) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.mkdirSync(path.join(dirs.config, "libvirt"));
  fs.writeFileSync(path.join(dirs.config, "libvirt", "libvirtd.conf"),
    `keepalive_interval = ${options.keepaliveInterval ?? 5}\nkeepalive_count = ${options.keepaliveCount ?? 5}\n`);
  execFileSync("chown", ["-R", `${TEST_DAEMON_USER}:`, home]);
  fs.chmodSync(home, 0o700);

  const child = spawn("runuser", ["-u", TEST_DAEMON_USER, "--", "env", `HOME=${home}`, `XDG_RUNTIME_DIR=${dirs.run}`,
    `XDG_CONFIG_HOME=${dirs.config}`, `XDG_CACHE_HOME=${dirs.cache}`, `XDG_DATA_HOME=${dirs.data}`,
    "libvirtd", "--timeout", "0"], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });

  const socketPath = path.join(dirs.run, "libvirt", "libvirt-sock");
  const deadline = Date.now() + 15_000;
  while (!fs.existsSync(socketPath)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`test libvirtd did not create ${socketPath}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  // runuser stays the parent; the daemon is its child and gets the signals.
  const daemonPid = (): number | null => {
    try {
      return Number(execFileSync("pgrep", ["-u", TEST_DAEMON_USER, "-P", String(child.pid), "-x", "libvirtd"]).toString().trim().split("\n")[0]);
    } catch {
      return null;
    }
  };
  return {
    socketPath,
    process: child,
    signal: (sig) => {
      const pid = daemonPid();
      if (pid) process.kill(pid, sig);
    },
    stop: async () => {
      const pid = daemonPid();
      if (pid) process.kill(pid, "SIGKILL");
      if (child.exitCode === null) {
        await new Promise((resolve) => { child.once("exit", resolve); child.kill("SIGKILL"); });
      }
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
