/** Runs the built `nightshift` binary as an operator would, isolated from the caller's environment and config. */
import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT, runNode, type RunResult } from "../../helpers/run.js";
import { sampleDomain, TestAgent } from "../../helpers/ws-agent.js";

export const CLI_BIN = path.join(REPO_ROOT, "dist/cli/main.js");

// A home that does not exist: a developer's ~/.config/nightshift/cli.yaml must not leak into tests.
const NO_HOME = "/nonexistent/nightshift-cli-test-home";

export interface Target {
  url: string;
  adminToken: string;
}

/** `nightshift ARGS` with only the given settings: no NIGHTSHIFT_URL/TOKEN unless in `env`. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  if (!fs.existsSync(CLI_BIN)) throw new Error(`${CLI_BIN} missing: run npm run build`);
  return runNode(CLI_BIN, args, {
    env: { NIGHTSHIFT_URL: undefined, NIGHTSHIFT_TOKEN: undefined, HOME: NO_HOME, XDG_CONFIG_HOME: NO_HOME, ...env },
  });
}

/** `nightshift ARGS` against a controller, URL and token in the environment. */
export function runAgainst(target: Target, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return runCli(args, { NIGHTSHIFT_URL: target.url, NIGHTSHIFT_TOKEN: target.adminToken, ...env });
}

/** The API's own answer, for comparing with --json output. */
export async function api(target: Target, pathname: string): Promise<unknown> {
  const res = await fetch(target.url + pathname, { headers: { Authorization: `Bearer ${target.adminToken}` } });
  if (!res.ok) throw new Error(`GET ${pathname}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

/** Any API request with the admin token: the status and the JSON answer, whatever the status. */
export async function apiCall<T>(target: Target, method: string, pathname: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(target.url + pathname, {
    method,
    headers: { Authorization: `Bearer ${target.adminToken}`, "Content-Type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as T };
}

/** An agent enrolled with `nightshift hosts enroll HOST`, connected, that has reported `vms` as its inventory. */
export async function enrolledAgent(target: Target, host: string, vms: string[]): Promise<TestAgent> {
  const enrolled = await runAgainst(target, ["hosts", "enroll", host]);
  const agent = await TestAgent.connect(target.url, enrolled.stdout.trim());
  agent.hello(host);
  await agent.next("welcome");
  agent.send({ v: 1, type: "inventory", collectedAt: new Date().toISOString(), domains: vms.map((n) => sampleDomain(n)) });
  return agent;
}

/** Waits until the controller knows `count` VMs: inventories are stored asynchronously. */
export async function waitForVms(target: Target, count: number): Promise<void> {
  for (let i = 0; ; i++) {
    const vms = await api(target, "/v1/vms") as unknown[];
    if (vms.length === count) return;
    if (i > 200) throw new Error(`inventory not stored: ${JSON.stringify(vms)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
