/**
 * Demo guests for the main job: `node dist/demo/guests.js up [N]` defines and
 * starts N tiny real guests (nsdemo-1..N, the test guest image, autostart on
 * for all but the last so the fleet has something to show); `down` removes them.
 * Idempotent: guests that exist are left as they are.
 *
 * Each guest gets /data/health = "ok" (what the demo run verifies), and the
 * last one /data/fragile: the demo patch breaks /data/health where that file
 * exists, so the demo run rolls that guest back.
 */
import { LibvirtConnection } from "../agent/libvirt/connection.js";
import { isNotFound } from "../agent/libvirt/errors.js";
import { DomainUndefineFlags } from "../agent/libvirt/protocol.js";
import { GuestAgent } from "../agent/libvirt/guest-agent.js";
import { waitForGuestAgent } from "../agent/maintenance/agent-ping.js";
import type { DomainRef } from "../agent/libvirt/remote-types.js";
import { ensureGuestBuilt, guestDomainXml, guestDiskPath, prepareGuestDisk, removeGuestDisk } from "../test/helpers/guest.js";

const PREFIX = "nsdemo-";

async function prepareGuest(conn: LibvirtConnection, dom: DomainRef, fragile: boolean): Promise<void> {
  await waitForGuestAgent(conn, dom, { timeoutMs: 60_000, intervalMs: 250 });
  const agent = new GuestAgent(conn, dom);
  const script = `[ -e /data/health ] || echo ok > /data/health; ${fragile ? "touch /data/fragile" : "rm -f /data/fragile"}; sync`;
  const r = await agent.exec({ path: "/bin/sh", args: ["-c", script], timeoutMs: 20_000 });
  if (r.exitCode !== 0) throw new Error(`${dom.name}: preparing /data failed: ${r.stderr}`);
}

async function up(count: number): Promise<void> {
  const artifacts = await ensureGuestBuilt();
  const conn = await LibvirtConnection.open({ uri: "qemu:///system" });
  try {
    for (let i = 1; i <= count; i++) {
      const name = `${PREFIX}${i}`;
      let dom = await conn.domainLookupByName(name).catch((err: unknown) => {
        if (isNotFound(err)) return null;
        throw err;
      });
      if (!dom) {
        const diskPath = await prepareGuestDisk(name, artifacts);
        dom = await conn.domainDefineXML(guestDomainXml({ name, kernel: artifacts.kernel, initrd: artifacts.initrd, diskPath }));
        await conn.domainSetAutostart(dom, i < count);
        process.stdout.write(`defined ${name}\n`);
      }
      if (!(await conn.domainIsActive(dom))) {
        await conn.domainCreate(dom);
        process.stdout.write(`started ${name}\n`);
      }
    }
    for (let i = 1; i <= count; i++) {
      await prepareGuest(conn, await conn.domainLookupByName(`${PREFIX}${i}`), i === count);
    }
  } finally {
    await conn.connectClose();
  }
}

async function down(): Promise<void> {
  const conn = await LibvirtConnection.open({ uri: "qemu:///system" });
  try {
    for (const dom of await conn.connectListAllDomains()) {
      if (!dom.name.startsWith(PREFIX)) continue;
      if (await conn.domainIsActive(dom)) await conn.domainDestroy(dom);
      await conn.domainUndefine(dom, DomainUndefineFlags.SNAPSHOTS_METADATA);
      await removeGuestDisk(guestDiskPath(dom.name));
      process.stdout.write(`removed ${dom.name}\n`);
    }
  } finally {
    await conn.connectClose();
  }
}

const [command, countArg] = process.argv.slice(2);
if (command === "up") await up(Number(countArg ?? 3));
else if (command === "down") await down();
else {
  process.stderr.write("usage: node dist/demo/guests.js up [N] | down\n");
  process.exitCode = 2;
}
