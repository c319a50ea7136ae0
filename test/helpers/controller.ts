/**
 * A real controller process for tests: the built binary on a free port
 * (listen port 0, the actual URL read from its stdout) with a fresh temp data
 * directory. `startController()` returns once /readyz answers 200 and the
 * admin token file exists; `stop()` ends the process (SIGTERM, then SIGKILL)
 * and removes the data directory. Safe to call `stop()` more than once.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { stringify as toYaml } from "yaml";
import { REPO_ROOT } from "./run.js";

export const CONTROLLER_BIN = path.join(REPO_ROOT, "dist/controller/cli/main.js");

export interface StartControllerOptions {
  /** Written to DATA_DIR/controller.yaml and passed as --config (e.g. short liveness timeouts). */
  config?: Record<string, unknown>;
  /** Extra environment; NIGHTSHIFT_CONTROLLER_* of the calling shell are never passed on. */
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the listening line and /readyz. Default 15 s. */
  readyTimeoutMs?: number;
  /** Reuse a data directory (a restart); it is then left in place by stop(). */
  dataDir?: string;
  /** A fixed port (a restart at the same address); default a free one. */
  port?: number;
  /** The address to listen on; default 127.0.0.1 (e.g. a test bridge's address, for agents in VMs). */
  host?: string;
  /** CA bundle to trust when the config enables TLS. */
  caFile?: string;
  /** A command that runs node in its place (each execs the next), e.g. `["prlimit", "--nofile=1024:1024", "--"]`. */
  wrapper?: string[];
}

export interface TestController {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** ws:// URL of the agent endpoint. */
  agentUrl: string;
  port: number;
  adminToken: string;
  dataDir: string;
  process: ChildProcess;
  /** The controller's log (stderr, JSON lines) so far, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

const LISTENING = /nightshift-controller listening on (\S+)/;
const MAX_LOG_CHARS = 64 * 1024;
const running = new Set<{ child: ChildProcess; dataDir: string; ownsDataDir: boolean }>();

/**
 * A test process that dies without running afterAll (killed, crashed) must
 * not leave controllers behind. Vitest's workers end without emitting 'exit',
 * so the controller is started through setpriv (util-linux) with a parent-death
 * signal: it gets SIGTERM when the process that started it goes away.
 */
const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => fs.existsSync(p));

// Outside vitest (a script using this helper), a normal exit also removes the data directories.
process.once("exit", () => {
  for (const { child, dataDir, ownsDataDir } of running) {
    child.kill("SIGKILL");
    if (ownsDataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

function isolatedEnv(extra: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("NIGHTSHIFT_CONTROLLER_")) env[key] = value;
  }
  return { ...env, NIGHTSHIFT_LOG_LEVEL: process.env.NIGHTSHIFT_LOG_LEVEL ?? "info", ...extra };
}

export async function startController(options: StartControllerOptions = {}): Promise<TestController> {
  if (!fs.existsSync(CONTROLLER_BIN)) throw new Error(`${CONTROLLER_BIN} missing: run npm run build`);
  const timeoutMs = options.readyTimeoutMs ?? 15_000;
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "nightshift-controller-"));
  const args: string[] = [CONTROLLER_BIN, "--data-dir", dataDir, "--listen", `${options.host ?? "127.0.0.1"}:${options.port ?? 0}`];
  if (options.config) {
    const file = path.join(dataDir, "controller.yaml");
    fs.writeFileSync(file, toYaml(options.config));
    args.push("--config", file);
  }
  // setpriv execs node, so the child's PID is the controller's.
  const node = [...(options.wrapper ?? []), process.execPath, ...args];
  const [command, argv] = SETPRIV ? [SETPRIV, ["--pdeathsig", "TERM", "--", ...node]] : [node[0]!, node.slice(1)];
  const child = spawn(command, argv, { env: isolatedEnv(options.env), stdio: ["ignore", "pipe", "pipe"] });
  const entry = { child, dataDir, ownsDataDir };
  running.add(entry);

  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => { stdout += chunk; });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-MAX_LOG_CHARS);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let hasExited = false;
  void exited.then(() => { hasExited = true; });

  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (!hasExited) {
        child.kill("SIGTERM");
        const killTimer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(killTimer);
      }
      running.delete(entry);
      if (ownsDataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const fail = async (why: string): Promise<never> => {
    await stop();
    throw new Error(`test controller ${why}\n--- stdout ---\n${stdout}\n--- stderr (log) ---\n${stderr}`);
  };

  const deadline = Date.now() + timeoutMs;
  let url: string | null = null;
  while (url === null) {
    url = LISTENING.exec(stdout)?.[1] ?? null;
    if (url) break;
    if (hasExited) return fail(`exited with code ${child.exitCode} before listening`);
    if (Date.now() > deadline) return fail(`did not print its URL within ${timeoutMs} ms`);
    await sleep(20);
  }

  while (!(await isReady(url, options.caFile))) {
    if (hasExited) return fail(`exited with code ${child.exitCode} before /readyz answered`);
    if (Date.now() > deadline) return fail(`${url}/readyz did not answer 200 within ${timeoutMs} ms`);
    await sleep(50);
  }

  const tokenFile = path.join(dataDir, "admin.token");
  const configured = (options.config?.adminToken ?? options.env?.NIGHTSHIFT_CONTROLLER_ADMIN_TOKEN) as string | undefined;
  const adminToken = configured ?? fs.readFileSync(tokenFile, "utf8").trim();
  const port = Number(new URL(url).port);
  return {
    url, agentUrl: `${url.replace(/^http/, "ws")}/v1/agent`, port, adminToken, dataDir, process: child,
    logs: () => stderr,
    stop,
  };
}

/** GET /readyz; over https the controller's CA (the config's tls.cert chain) must be given. */
function isReady(url: string, caFile?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const target = new URL("/readyz", url);
    const get = target.protocol === "https:" ? https.get : http.get;
    const req = get(target, { timeout: 2_000, ...(caFile ? { ca: fs.readFileSync(caFile) } : {}) }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
