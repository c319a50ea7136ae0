/**
 * What the fstab's server names resolve to now, for the remedies of
 * NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME: `getent ahostsv4 NAME` (NSS, as the
 * mount itself would resolve it). Each name once, at most LOOKUP_CONCURRENCY
 * at a time, in the order the fstab names them (so the lines listed one by
 * one get their addresses first), and only until `deadline`: then the
 * lookups in flight are killed and the names left are "unchecked", so the
 * probe still reports within its timeout. In a host tree the recorded
 * output is commands/getent-ahostsv4-NAME (absent: the name does not resolve).
 */
import { isIP } from "node:net";
import { mapBounded } from "./bounded-map.js";
import type { HostCommand, HostCommands } from "./commands.js";
import { stageSignal } from "./deadline.js";

/** Children at once: enough that a slow DNS server costs the round little, few enough that spawning never starves the event loop. */
export const LOOKUP_CONCURRENCY = 8;
const GETENT_TIMEOUT_MS = 2_000;

/** resolved: its IPv4 address now; unresolved: getent said no (or gave no answer within its 2 s); unchecked: not asked in time. */
export type Lookup = { state: "resolved"; address: string } | { state: "unresolved" } | { state: "unchecked" };

/** Thrown inside a lookup that the deadline cut short. */
class Unchecked extends Error {}

function getent(name: string): HostCommand {
  return {
    file: "getent", args: ["ahostsv4", name], timeoutMs: GETENT_TIMEOUT_MS,
    // getent's "not found".
    recorded: { name: `getent-ahostsv4-${name}`, missing: { code: 2, stdout: "", stderr: "" } },
  };
}

async function lookUp(commands: HostCommands, name: string, signal: AbortSignal): Promise<Lookup> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return { state: "unresolved" };
  let text: string;
  try {
    const result = await commands.run(getent(name), signal);
    if (result.code !== 0) return { state: "unresolved" };
    text = result.stdout;
  } catch {
    // Killed by the deadline: not an answer about the name.
    if (signal.aborted) throw new Unchecked(name);
    return { state: "unresolved" };
  }
  for (const line of text.split("\n")) {
    const [address, kind] = line.trim().split(/\s+/);
    if (address && isIP(address) === 4 && kind === "STREAM") return { state: "resolved", address };
  }
  return { state: "unresolved" };
}

/** Every name's lookup; `deadline` on the performance.now() clock; `signal` (the probe's) stops everything too. */
export async function lookUpServers(commands: HostCommands, names: readonly string[], options: { signal: AbortSignal; deadline: number }): Promise<Map<string, Lookup>> {
  const unique = [...new Set(names)];
  const stage = stageSignal(options.signal, options.deadline, "the lookups' share of the probe's time is used up");
  try {
    const outcomes = await mapBounded(unique, LOOKUP_CONCURRENCY, stage.signal, (name, signal) => lookUp(commands, name, signal));
    return new Map(unique.map((name, i): [string, Lookup] => {
      const o = outcomes[i]!;
      if (o.state === "done") return [name, o.value];
      return [name, o.state === "failed" && !(o.error instanceof Unchecked) ? { state: "unresolved" } : { state: "unchecked" }];
    }));
  } finally {
    stage.done();
  }
}
