/**
 * The measured side of bench/inventory.ts, in its own process so its RSS is
 * that of an agent doing an inventory and nothing else. Prints one JSON line.
 */
import { LibvirtConnection } from "../agent/libvirt/connection.js";
import { inventoryDomains } from "../agent/inventory/domains.js";

const [uri = "qemu:///system", prefix = "", runsArg = "5"] = process.argv.slice(2);
const runs = Number(runsArg);
const timings: number[] = [];
let count = 0;
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  // A fresh connection each run: the agent's cost includes connecting.
  const conn = await LibvirtConnection.open({ uri });
  const domains = (await inventoryDomains(conn)).filter((d) => d.name.startsWith(prefix));
  await conn.connectClose();
  timings.push(performance.now() - t0);
  count = domains.length;
}
timings.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({
  domains: count,
  medianMs: timings[Math.floor(timings.length / 2)],
  minMs: timings[0],
  maxRssMB: process.resourceUsage().maxRSS / 1024,
}) + "\n");
