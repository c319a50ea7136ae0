/**
 * Idle connections from one client against a real controller process whose
 * open-file limit is 1,024 (started under prlimit): the attacker connects from
 * 127.0.0.2, honest clients from 127.0.0.1. Past http.maxConnectionsPerClient
 * the attacker's connections are refused at once with 503
 * NS_ERR_TOO_MANY_CONNECTIONS, and the honest client keeps getting answers
 * while the attacker holds its sockets. With the per-client cap out of the
 * way, the global cap (the fd limit less a reserve) still keeps the process
 * below its fd limit, so it answers again the moment the sockets close.
 */
import { afterEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import net from "node:net";
import { startController, type TestController } from "../../helpers/controller.js";
import { pollFor } from "../../helpers/poll.js";

const FD_LIMIT = 1_024;
const ATTACK = 1_224;
const PRLIMIT = ["prlimit", `--nofile=${FD_LIMIT}:${FD_LIMIT}`, "--"];

let controller: TestController | undefined;
const held: net.Socket[] = [];

afterEach(async () => {
  for (const socket of held.splice(0)) socket.destroy();
  await controller?.stop();
  controller = undefined;
});

const fdCount = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;

interface Attack {
  /** Connections still open after the attack settled. */
  open: number;
  /** Connections the controller answered (a refusal) and closed. */
  refused: number;
  /** One refusal's raw bytes. */
  sample: string;
}

/** `count` idle connections from `localAddress`, held open in `held`. */
async function hold(port: number, count: number, localAddress: string): Promise<Attack> {
  let refused = 0;
  let sample = "";
  const opened = await Promise.all(Array.from({ length: count }, () => new Promise<net.Socket | null>((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress });
    let answer = "";
    socket.setEncoding("latin1").on("data", (chunk: string) => { answer += chunk; });
    socket.on("connect", () => resolve(socket));
    socket.on("error", () => resolve(null));
    socket.on("close", () => {
      refused++;
      if (answer && !sample) sample = answer;
    });
    held.push(socket);
  })));
  await new Promise((r) => setTimeout(r, 1_000));
  return { open: opened.filter((s) => s !== null && !s.destroyed).length, refused, sample };
}

async function hosts(url: string, token: string): Promise<number> {
  const res = await fetch(`${url}/v1/hosts`, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer();
  return res.status;
}

describe("connection limits under a 1,024 fd limit", { timeout: 60_000 }, () => {
  it(`${ATTACK} idle sockets from one address: the excess is refused 503 at once, an honest client still gets answers`, async () => {
    controller = await startController({ wrapper: PRLIMIT, env: { NIGHTSHIFT_LOG_LEVEL: "warn" } });
    const pid = controller.process.pid!;
    const before = fdCount(pid);
    const attack = await hold(controller.port, ATTACK, "127.0.0.2");
    const during = fdCount(pid);
    console.log(`attacker: ${attack.open} open, ${attack.refused} refused; controller fds ${before} before, ${during} during`);
    expect(attack.open).toBe(64);
    expect(attack.refused).toBe(ATTACK - 64);
    expect(attack.sample).toMatch(/^HTTP\/1\.1 503 /);
    expect(attack.sample).toContain('"code":"NS_ERR_TOO_MANY_CONNECTIONS"');
    expect(during).toBeLessThan(before + 64 + 16);

    // While the attacker holds its 64: reads and writes of an honest client work.
    for (let i = 0; i < 20; i++) expect(await hosts(controller.url, controller.adminToken)).toBe(200);
    const enrolled = await fetch(`${controller.url}/v1/hosts`, {
      method: "POST", headers: { Authorization: `Bearer ${controller.adminToken}`, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "hv-honest" }),
    });
    expect(enrolled.status).toBe(201);
    const metrics = await (await fetch(`${controller.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`nightshift_http_connections_refused_total\\{reason="client-limit"\\} ${ATTACK - 64}\\b`));
  });

  it("without the per-client cap, the global one keeps the process below its fd limit; it answers again once the sockets close", async () => {
    controller = await startController({ wrapper: PRLIMIT, config: { http: { maxConnectionsPerClient: 5_000 } }, env: { NIGHTSHIFT_LOG_LEVEL: "warn" } });
    const pid = controller.process.pid!;
    const attack = await hold(controller.port, ATTACK, "127.0.0.2");
    const during = fdCount(pid);
    console.log(`attacker without a per-client cap: ${attack.open} open, ${attack.refused} refused; controller fds ${during} of ${FD_LIMIT}`);
    expect(attack.open).toBeLessThanOrEqual(FD_LIMIT - 128);
    expect(during).toBeLessThan(FD_LIMIT);
    // A new client is refused with an answer (not a hang, not a reset) while all connections are taken.
    const refused = await fetch(`${controller.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("NS_ERR_TOO_MANY_CONNECTIONS");
    for (const socket of held.splice(0)) socket.destroy();
    await pollFor(async () => (await hosts(controller!.url, controller!.adminToken)) === 200 || null, "an answer after the attacker left", 5_000);
    expect(controller.process.exitCode).toBeNull();
  });
});
