/**
 * Counts a process's live children by name, from outside: a separate process
 * reads /proc every millisecond or so (so the count is right even while the
 * watched process's event loop is busy spawning), and reports the most seen
 * at once when stopped. A zombie (exited, not yet reaped: the parent's event
 * loop has not come round to its SIGCHLD) is not counted as running; the most
 * zombies at once are reported apart.
 */
import { spawn } from "node:child_process";

const SAMPLER = `
const fs = require("node:fs");
const [parent, name] = process.argv.slice(1);
let max = 0, maxZombies = 0, samples = 0, last = 0, stop = false;
process.stdin.on("data", () => {}).on("end", () => { stop = true; });
function children() {
  let n = 0, z = 0;
  for (const pid of fs.readdirSync("/proc")) {
    if (pid < "0" || pid > "9") continue;
    let stat;
    try { stat = fs.readFileSync("/proc/" + pid + "/stat", "utf8"); } catch { continue; }
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const [state, ppid] = stat.slice(close + 2).split(" ");
    if (comm !== name || ppid !== parent) continue;
    if (state === "Z") z++;
    else n++;
  }
  maxZombies = Math.max(maxZombies, z);
  return n;
}
(function loop() {
  last = children();
  max = Math.max(max, last);
  if (samples++ === 0) process.stdout.write("ready\\n");
  if (stop) { process.stdout.write(JSON.stringify({ max, maxZombies, samples, last })); return; }
  setTimeout(loop, 1);
})();
`;

export interface ChildSample {
  /** The most children of that name seen running at once (zombies not counted). */
  max: number;
  /** The most seen exited but not yet reaped at once. */
  maxZombies: number;
  samples: number;
  /** How many were alive at the last sample, after stop() was called. */
  last: number;
}

/** Starts counting `parentPid`'s children named `name` (as in /proc/PID/comm, e.g. "getent"). */
export async function sampleChildren(parentPid: number, name: string): Promise<{ stop(): Promise<ChildSample> }> {
  const child = spawn(process.execPath, ["-e", SAMPLER, String(parentPid), name], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  let ready: () => void = () => {};
  const started = new Promise<void>((resolve) => { ready = resolve; });
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
    if (out.startsWith("ready\n")) ready();
  });
  let exit = "";
  const exited = new Promise<void>((resolve) => child.once("close", (code, signal) => {
    exit = `exit code ${code}, signal ${signal}`;
    resolve();
  }));
  // Counting from its first sample on, before the work it watches starts.
  await Promise.race([started, exited]);
  return {
    async stop() {
      child.stdin.end();
      await exited;
      const result = out.slice("ready\n".length);
      if (!result) throw new Error(`the child sampler ended without a count (${exit}; output ${JSON.stringify(out)})`);
      return JSON.parse(result) as ChildSample;
    },
  };
}
