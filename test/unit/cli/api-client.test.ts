/** The CLI's API client against small real HTTP(S) servers on port 0: requests it sends, errors it raises. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import type { AddressInfo } from "node:net";
import {
  ApiClient, ControllerApiError, ControllerAuthError, ControllerResponseError, ControllerUnreachableError,
} from "../../../cli/api-client.js";

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Reply = (res: http.ServerResponse) => void;

const json = (status: number, value: unknown): Reply => (res) => {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(value));
};

let server: http.Server;
let base: string;
let seen: Seen[] = [];
let reply: Reply = json(200, []);

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8").on("data", (c: string) => { body += c; }).on("end", () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      reply(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

afterEach(() => {
  seen = [];
  reply = json(200, []);
});

async function rejection(promise: Promise<unknown>): Promise<Error & { code: string; status?: number }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code: string };
  }
  throw new Error("expected a rejection");
}

describe("requests", () => {
  it("sends the bearer token and query parameters, leaving out unset ones", async () => {
    const client = new ApiClient({ url: base, token: "nsa_t0ken" });
    await client.listEvents({ host: "web1", since: "1h", limit: 5, vm: undefined });
    expect(seen[0]!.method).toBe("GET");
    expect(seen[0]!.url).toBe("/v1/events?host=web1&since=1h&limit=5");
    expect(seen[0]!.headers.authorization).toBe("Bearer nsa_t0ken");
  });

  it("POSTs JSON bodies and returns the parsed answer", async () => {
    reply = json(201, { name: "web1", token: "nsh_x", enrolledAt: "2026-11-23T12:00:00.000Z" });
    const client = new ApiClient({ url: base, token: "t" });
    expect(await client.enrollHost("web1")).toEqual({ name: "web1", token: "nsh_x", enrolledAt: "2026-11-23T12:00:00.000Z" });
    expect(seen[0]!.method).toBe("POST");
    expect(seen[0]!.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(seen[0]!.body)).toEqual({ name: "web1" });
  });

  it("keeps a path prefix (reverse proxy) and encodes host names in paths", async () => {
    reply = json(200, { name: "a/b", status: "revoked", revokedAt: "x" });
    await new ApiClient({ url: `${base}/nightshift/`, token: "t" }).revokeHost("a/b");
    expect(seen[0]!.url).toBe("/nightshift/v1/hosts/a%2Fb/revoke");
  });
});

describe("runs and snapshots", () => {
  const spec = { vms: ["web1"], patch: { exec: "apt-get -y upgrade" } };

  it("start POSTs {spec} and returns the run; a dry run POSTs dryRun: true and returns the plan", async () => {
    const client = new ApiClient({ url: base, token: "t" });
    reply = json(201, { run: { id: "r1", vms: [] } });
    expect(await client.startRun(spec)).toEqual({ id: "r1", vms: [] });
    reply = json(200, { plan: { name: "n", rules: [], vms: [] } });
    expect(await client.planRun(spec)).toEqual({ name: "n", rules: [], vms: [] });
    expect(seen.map((s) => [s.method, s.url, JSON.parse(s.body)])).toEqual([
      ["POST", "/v1/runs", { spec }],
      ["POST", "/v1/runs", { spec, dryRun: true }],
    ]);
  });

  it("an answer without run or plan is not taken for one", async () => {
    reply = json(201, { id: "r1" });
    const err = await rejection(new ApiClient({ url: base, token: "t" }).startRun(spec));
    expect(err).toBeInstanceOf(ControllerResponseError);
    expect(err.message).toBe(`POST /v1/runs at ${base} answered without "run": is the controller older than this CLI?`);
  });

  it("list, show, evidence after a seq, abort, snapshots: paths and queries", async () => {
    const client = new ApiClient({ url: base, token: "t" });
    await client.listRuns();
    await client.listRuns(5);
    await client.getRun("r/1");
    await client.runEvidence("r1");
    await client.runEvidence("r1", 42);
    await client.abortRun("r1");
    await client.listSnapshots();
    await client.listSnapshots(true);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      "GET /v1/runs", "GET /v1/runs?limit=5", "GET /v1/runs/r%2F1", "GET /v1/runs/r1/evidence", "GET /v1/runs/r1/evidence?after=42",
      "POST /v1/runs/r1/abort", "GET /v1/snapshots", "GET /v1/snapshots?all=1",
    ]);
  });
});

describe("errors", () => {
  it("401: names the URL, where the token came from, and where a valid one is", async () => {
    reply = json(401, { error: { code: "NS_ERR_UNAUTHORIZED", message: "missing or invalid API token" } });
    const err = await rejection(new ApiClient({ url: base, token: "bad", tokenSource: "$NIGHTSHIFT_TOKEN" }).listHosts());
    expect(err).toBeInstanceOf(ControllerAuthError);
    expect(err.code).toBe("NS_ERR_UNAUTHORIZED");
    expect(err.message).toContain(`the controller at ${base} refused the API token from $NIGHTSHIFT_TOKEN`);
    expect(err.message).toContain("/var/lib/nightshift/admin.token");
  });

  it("other HTTP errors carry the server's code, message and status", async () => {
    reply = json(409, { error: { code: "NS_ERR_HOST_EXISTS", message: "host 'web1' is already enrolled" } });
    const err = await rejection(new ApiClient({ url: base, token: "t" }).enrollHost("web1"));
    expect(err).toBeInstanceOf(ControllerApiError);
    expect(err.code).toBe("NS_ERR_HOST_EXISTS");
    expect(err.message).toBe("host 'web1' is already enrolled");
    expect(err.status).toBe(409);
  });

  it("something that is not the nightshift API: not JSON, or JSON without an error body", async () => {
    reply = (res) => {
      res.writeHead(502, { "Content-Type": "text/html" });
      res.end("<html>Bad Gateway</html>");
    };
    const html = await rejection(new ApiClient({ url: base, token: "t" }).status());
    expect(html).toBeInstanceOf(ControllerResponseError);
    expect(html.code).toBe("NS_ERR_CONTROLLER_RESPONSE");
    expect(html.message).toBe(`GET /v1/status at ${base} answered HTTP 502 with text/html, not JSON: is ${base} a nightshift controller?`);

    reply = json(500, { oops: true });
    const bare = await rejection(new ApiClient({ url: base, token: "t" }).status());
    expect(bare).toBeInstanceOf(ControllerResponseError);
    expect(bare.message).toContain("HTTP 500 without a nightshift error body");
  });

  it("connection refused names the URL", async () => {
    const closed = await freePort();
    const url = `http://127.0.0.1:${closed}`;
    const err = await rejection(new ApiClient({ url, token: "t" }).listHosts());
    expect(err).toBeInstanceOf(ControllerUnreachableError);
    expect(err.code).toBe("NS_ERR_CONTROLLER_UNREACHABLE");
    expect(err.message).toBe(`cannot reach the controller at ${url}: connection refused (is nightshift-controller running and listening there?)`);
  });

  it("a controller that does not answer in time", async () => {
    reply = () => {}; // never answers
    const err = await rejection(new ApiClient({ url: base, token: "t", timeoutMs: 200 }).listHosts());
    expect(err).toBeInstanceOf(ControllerUnreachableError);
    expect(err.message).toBe(`the controller at ${base} did not answer within 0.2 s`);
  });

  it("https:// to a plain HTTP server", async () => {
    const err = await rejection(new ApiClient({ url: base.replace("http:", "https:"), token: "t" }).listHosts());
    expect(err.message).toContain("TLS handshake failed: the server does not speak TLS there");
  });

  it("a certificate from an unknown CA points at NODE_EXTRA_CA_CERTS", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nightshift-tls-"));
    let tlsServer: https.Server | undefined;
    try {
      // A throwaway self-signed certificate (openssl comes with Debian's ca-certificates).
      execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem"), "-days", "2", "-subj", "/CN=nightshift-test",
        "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
      tlsServer = https.createServer({ key: fs.readFileSync(path.join(dir, "key.pem")), cert: fs.readFileSync(path.join(dir, "cert.pem")) },
        (_req, res) => json(200, [])(res));
      await new Promise<void>((resolve) => tlsServer!.listen(0, "127.0.0.1", resolve));
      const url = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
      const err = await rejection(new ApiClient({ url, token: "t" }).listHosts());
      expect(err).toBeInstanceOf(ControllerUnreachableError);
      expect(err.message).toContain(`cannot reach the controller at ${url}: its TLS certificate was not accepted`);
      expect(err.message).toContain("NODE_EXTRA_CA_CERTS");
    } finally {
      if (tlsServer) {
        tlsServer.closeAllConnections();
        await new Promise<void>((resolve) => tlsServer!.close(() => resolve()));
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A port nobody listens on: bound, then released. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
