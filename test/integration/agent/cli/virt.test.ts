/** `nightshift-agent virt ...` as a real process against the real libvirtd. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import { once } from "node:events";
import { LibvirtConnection } from "../../../../agent/libvirt/connection.js";
import { inventoryDomains } from "../../../../agent/inventory/domains.js";
import { removeDomainsWithPrefix, testDriverDomainXml, testPrefix } from "../../../helpers/libvirt.js";
import { AGENT_BIN, runNode, spawnNode } from "../../../helpers/run.js";
import { ensureTestUser, TEST_DAEMON_USER } from "../../../helpers/session-daemon.js";

const prefix = testPrefix("cli");
let conn: LibvirtConnection;

beforeAll(async () => {
  expect(fs.existsSync(AGENT_BIN), `${AGENT_BIN} missing: run npm run build`).toBe(true);
  conn = await LibvirtConnection.open({ uri: "test:///default" });
  const a = await conn.domainDefineXML(testDriverDomainXml(`${prefix}a`, { disks: ["/srv/cli-a.qcow2"] }));
  await conn.domainSetAutostart(a, true);
  await conn.domainCreate(a);
  await conn.domainDefineXML(testDriverDomainXml(`${prefix}b`));
});

afterAll(async () => {
  await removeDomainsWithPrefix(conn, prefix);
  await conn.connectClose();
});

describe("virt domains", () => {
  it("--json prints exactly what the library reports", async () => {
    const result = await runNode(AGENT_BIN, ["virt", "domains", "--uri", "test:///default", "--json"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as { name: string }[];
    const ours = printed.filter((d) => d.name.startsWith(prefix));
    const expected = (await inventoryDomains(conn)).filter((d) => d.name.startsWith(prefix));
    expect(ours).toEqual(JSON.parse(JSON.stringify(expected)));
    expect(ours).toHaveLength(2);
  });

  it("prints an aligned table for humans", async () => {
    const result = await runNode(AGENT_BIN, ["virt", "domains", "--uri", "test:///default"]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+UUID\s+STATE\s+REASON\s+AUTOSTART\s+PERSISTENT\s+VCPUS\s+MEMORY\s+DISKS$/);
    const row = lines.find((l) => l.startsWith(`${prefix}a `))!;
    expect(row).toMatch(/running\s+booted\s+yes\s+yes\s+1\s+128 MiB\s+vda=\/srv\/cli-a\.qcow2 \(qcow2\)$/);
    // Columns line up: every row has its STATE column where the header has it.
    const stateCol = lines[0]!.indexOf("STATE");
    expect(row.slice(stateCol, stateCol + 7)).toBe("running");
  });

  it("says the socket is missing, with the path, and exits non-zero", async () => {
    const result = await runNode(AGENT_BIN, ["virt", "domains", "--socket", "/nonexistent/libvirt-sock"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe("nightshift-agent: libvirt socket /nonexistent/libvirt-sock does not exist: is libvirtd installed and " +
      "running? (start it, or pass --uri/--socket for another daemon) (NS_ERR_LIBVIRT_SOCKET_MISSING)\n");
  });

  it("says access is denied when an unprivileged user reaches a root-only socket", async () => {
    ensureTestUser();
    const denied = await runNode(AGENT_BIN, ["virt", "domains", "--socket", "/var/run/libvirt/libvirt-admin-sock"], { user: TEST_DAEMON_USER });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/permission denied on libvirt socket \/var\/run\/libvirt\/libvirt-admin-sock.*\(NS_ERR_LIBVIRT_ACCESS_DENIED\)/);
    // The world-writable main socket lets the user in, but the daemon wants polkit: also access denied, and says why.
    const polkit = await runNode(AGENT_BIN, ["virt", "domains"], { user: TEST_DAEMON_USER });
    expect(polkit.code).toBe(1);
    expect(polkit.stderr).toMatch(/libvirtd requires authentication \(POLKIT\).*\(NS_ERR_LIBVIRT_ACCESS_DENIED\)/);
  });

  it("refuses a remote URI with a reason", async () => {
    const result = await runNode(AGENT_BIN, ["virt", "domains", "--uri", "qemu+ssh://hv1/system"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/transport 'ssh' is not supported.*\(NS_ERR_LIBVIRT_URI\)/);
  });
});

describe("virt events", () => {
  it("prints lifecycle events as JSON lines until SIGINT, then exits 0", async () => {
    const child = spawnNode(AGENT_BIN, ["virt", "events", "--uri", "test:///default"]);
    let out = "";
    child.stdout!.on("data", (d: Buffer) => { out += d.toString(); });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => { err += d.toString(); });
    // The subscription is registered once the process has connected; give it a moment, then act.
    await new Promise((r) => setTimeout(r, 1500));
    const name = `${prefix}ev`;
    const dom = await conn.domainDefineXML(testDriverDomainXml(name));
    await conn.domainCreate(dom);
    await conn.domainDestroy(dom);
    const deadline = Date.now() + 5000;
    while ((out.match(new RegExp(name, "g")) ?? []).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill("SIGINT");
    const [code] = await once(child, "exit");
    expect(err).toBe("");
    expect(code).toBe(0);
    const lines = out.trim().split("\n").map((l) => JSON.parse(l) as Record<string, string>).filter((e) => e.domain === name);
    expect(lines.map((e) => `${e.kind}:${e.event}:${e.detail}`)).toEqual([
      "lifecycle:defined:added", "lifecycle:started:booted", "lifecycle:stopped:destroyed",
    ]);
    expect(lines[0]).toMatchObject({ uuid: dom.uuid });
    expect(Date.parse(lines[0]!.time!)).not.toBeNaN();
  });
});

