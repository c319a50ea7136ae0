/**
 * TLS connections that never finish their handshake, against a real
 * controller process serving HTTPS (a certificate from a private CA made
 * with openssl): each is closed after http.tlsHandshakeTimeout without a
 * byte written (no plain-text 408 into a TLS stream), at most
 * http.maxTlsHandshakes are in their handshake at once, and honest HTTPS
 * clients get answers meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { startController, type TestController } from "../../helpers/controller.js";
import { memoryStatus } from "../../../bench/controller-load-proc.js";

const ATTACK = 2_000;
const MAX_HANDSHAKES = 128;
const HANDSHAKE_TIMEOUT_MS = 1_000;

let pki: string;
let controller: TestController;

beforeAll(async () => {
  pki = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-pki-"));
  const openssl = (args: string[]) => execFileSync("openssl", args, { cwd: pki, stdio: "pipe" });
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=nightshift test CA", "-keyout", "ca.key", "-out", "ca.pem"]);
  openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"]);
  fs.writeFileSync(path.join(pki, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
  openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
    "-extfile", "san.ext", "-out", "server.pem"]);
  controller = await startController({
    config: {
      tls: { cert: path.join(pki, "server.pem"), key: path.join(pki, "server.key") },
      // One attacking address may hold as many as it likes: the handshake cap is what is tested.
      http: { tlsHandshakeTimeout: `${HANDSHAKE_TIMEOUT_MS}ms`, maxTlsHandshakes: MAX_HANDSHAKES, maxConnectionsPerClient: 5_000 },
    },
    caFile: path.join(pki, "ca.pem"),
    env: { NIGHTSHIFT_LOG_LEVEL: "warn" },
  });
});

afterAll(async () => {
  await controller?.stop();
  fs.rmSync(pki, { recursive: true, force: true });
});

function healthz(): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(`${controller.url}/healthz`, { ca: fs.readFileSync(path.join(pki, "ca.pem")), agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
  });
}

interface Silent {
  socket: net.Socket;
  closed: boolean;
  bytes: number;
}

describe("TLS handshakes", { timeout: 60_000 }, () => {
  it(`${ATTACK} connections that never send a ClientHello: closed after the handshake timeout, nothing written, at most ${MAX_HANDSHAKES} at once`, async () => {
    const pid = controller.process.pid!;
    const before = memoryStatus(pid).rssMB;
    const silent: Silent[] = [];
    const t0 = Date.now();
    // In batches the listen backlog takes, so that every connection is accepted now rather than after a SYN retry.
    for (let i = 0; i < ATTACK; i += 200) {
      await Promise.all(Array.from({ length: 200 }, () => new Promise<void>((resolve) => {
        const entry: Silent = { socket: net.connect({ port: controller.port, host: "127.0.0.1", localAddress: "127.0.0.2" }), closed: false, bytes: 0 };
        entry.socket.on("data", (chunk: Buffer) => { entry.bytes += chunk.length; });
        entry.socket.on("close", () => { entry.closed = true; });
        entry.socket.on("error", () => {});
        entry.socket.on("connect", () => resolve());
        entry.socket.on("close", () => resolve());
        silent.push(entry);
      })));
    }
    const connectMs = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 100));
    const openAfterConnect = silent.filter((s) => !s.closed).length;
    const peak = memoryStatus(pid).rssMB;
    await new Promise((r) => setTimeout(r, HANDSHAKE_TIMEOUT_MS + 1_000));
    const stillOpen = silent.filter((s) => !s.closed).length;
    const written = silent.reduce((n, s) => n + s.bytes, 0);
    console.log(`${ATTACK} silent TLS connections (connected in ${connectMs} ms): ${openAfterConnect} open after connecting, ` +
      `${stillOpen} open ${HANDSHAKE_TIMEOUT_MS + 1_000} ms later, ${written} bytes written to them; RSS ${before.toFixed(0)} -> ${peak.toFixed(0)} MB`);
    for (const s of silent) s.socket.destroy();
    expect(openAfterConnect).toBeLessThanOrEqual(MAX_HANDSHAKES);
    expect(stillOpen).toBe(0);
    expect(written).toBe(0);
    expect(peak - before).toBeLessThan(50);
    expect(await healthz()).toBe(200);
  });

  it("an honest client is answered while another address holds its connections in their handshake", async () => {
    const silent = Array.from({ length: 64 }, () => {
      const socket = net.connect({ port: controller.port, host: "127.0.0.1", localAddress: "127.0.0.2" });
      socket.on("error", () => {});
      return socket;
    });
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 5; i++) expect(await healthz()).toBe(200);
    for (const socket of silent) socket.destroy();
  });
});
