/**
 * Inventory benchmark: N defined domains (stopped) on the local libvirtd,
 * inventoried (state, autostart, XML with disks) by the agent's client and by
 * the `virsh` loop operators use today (dominfo + domblklist + dumpxml per
 * domain), in one run, side by side.
 *
 *   npm run bench            # N = 10, 100
 *   npm run bench -- 10 100 500
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { LibvirtConnection } from "../agent/libvirt/connection.js";
import { DomainUndefineFlags } from "../agent/libvirt/protocol.js";

const execFileP = promisify(execFile);
const URI = "qemu:///system";
const PREFIX = "nsbench-";
const here = path.dirname(fileURLToPath(import.meta.url));

function domainXml(name: string): string {
  return `<domain type='qemu'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/${name}-root.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/>
      <source file='/var/lib/libvirt/images/${name}-data.img'/><target dev='vdb' bus='virtio'/></disk>
  </devices></domain>`;
}

async function removeBenchDomains(conn: LibvirtConnection): Promise<void> {
  for (const dom of await conn.connectListAllDomains()) {
    if (dom.name.startsWith(PREFIX)) await conn.domainUndefine(dom, DomainUndefineFlags.SNAPSHOTS_METADATA);
  }
}

async function virshLoop(names: string[]): Promise<number> {
  const t0 = performance.now();
  for (const name of names) {
    for (const sub of ["dominfo", "domblklist", "dumpxml"]) {
      await execFileP("virsh", ["-c", URI, sub, name]);
    }
  }
  return performance.now() - t0;
}

async function clientRun(runs: number): Promise<{ domains: number; medianMs: number; maxRssMB: number }> {
  const { stdout } = await execFileP(process.execPath, [path.join(here, "inventory-client.js"), URI, PREFIX, String(runs)]);
  return JSON.parse(stdout) as { domains: number; medianMs: number; maxRssMB: number };
}

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const conn = await LibvirtConnection.open({ uri: URI });
const rows: string[][] = [];
try {
  for (const n of sizes.length > 0 ? sizes : [10, 100]) {
    await removeBenchDomains(conn);
    const names = Array.from({ length: n }, (_, i) => `${PREFIX}${String(i).padStart(4, "0")}`);
    for (const name of names) await conn.domainDefineXML(domainXml(name));
    const client = await clientRun(5);
    if (client.domains !== n) throw new Error(`client saw ${client.domains} of ${n} domains`);
    const virshMs = await virshLoop(names);
    rows.push([String(n), client.medianMs.toFixed(1), virshMs.toFixed(0), (virshMs / client.medianMs).toFixed(1),
      client.maxRssMB.toFixed(1)]);
    process.stderr.write(`N=${n} done\n`);
  }
} finally {
  await removeBenchDomains(conn);
  await conn.connectClose();
}

const headers = ["domains", "client ms (median of 5)", "virsh loop ms", "speed-up (x)", "client RSS MB"];
const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
for (const row of [headers, ...rows]) console.log(row.map((c, i) => c.padStart(widths[i]!)).join("  "));
console.log("targets: >= 20x faster than the virsh loop at 100 domains; client RSS < 80 MB");
