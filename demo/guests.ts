/**
 * Demo guests for the main job: `node dist/demo/guests.js up [N]` defines and
 * starts N tiny real guests (nsdemo-1..N, the test guest image, autostart on
 * for all but the last so the fleet has something to show); `down` removes them.
 * Idempotent: guests that exist are left as they are.
 */
import { LibvirtConnection } from "../agent/libvirt/connection.js";
import { isNotFound } from "../agent/libvirt/errors.js";
import { DomainUndefineFlags } from "../agent/libvirt/protocol.js";
import { ensureGuestBuilt, guestDomainXml, guestDiskPath, prepareGuestDisk, removeGuestDisk } from "../test/helpers/guest.js";

const PREFIX = "nsdemo-";

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
