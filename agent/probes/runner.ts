/**
 * Runs probes concurrently, each under its own timeout, and assembles one
 * health report. A probe that throws is `failed`, one that overruns is
 * `timeout` (its signal is aborted so it can kill its children); neither
 * affects the others.
 */
import type { HealthReport, ProbeRun } from "../../shared/protocol/findings.js";
import type { AnyProbe, Probe, ProbeContext, ProbeOutput } from "./types.js";
import { errorMessage } from "../../shared/errors.js";

export type ProbeContextBase = Omit<ProbeContext, "signal" | "deadline">;

/** The probes the settings enable, in registry order. */
export function selectProbes<P extends Pick<Probe, "name" | "defaultEnabled">>(all: readonly P[], settings: { disabledProbes: string[]; enabledProbes: string[] }): P[] {
  return all.filter((p) => !settings.disabledProbes.includes(p.name) && (p.defaultEnabled || settings.enabledProbes.includes(p.name)));
}

export async function runProbes(probes: readonly AnyProbe[], base: ProbeContextBase): Promise<HealthReport> {
  const outcomes = await Promise.all(probes.map((probe) => runOne(probe, base)));
  const facts: Record<string, unknown> = {};
  const report: HealthReport = { collectedAt: base.now().toISOString(), probes: [], findings: [], facts: facts as HealthReport["facts"] };
  for (const { run, output, probe } of outcomes) {
    report.probes.push(run);
    if (!output) continue;
    for (const f of output.findings) report.findings.push({ ...f, probe: probe.name });
    // Keyed by the probe's name, which is its fact's key in the registry (test/unit/agent/probes/registry.test.ts).
    if (probe.fact && output.fact !== undefined) facts[probe.name] = output.fact;
  }
  return report;
}

async function runOne(probe: AnyProbe, base: ProbeContextBase): Promise<{ probe: AnyProbe; run: ProbeRun; output: ProbeOutput<unknown> | null }> {
  const timeoutMs = probe.timeoutMs ?? base.settings.probeTimeout;
  const controller = new AbortController();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error(`probe ${probe.name} timed out after ${timeoutMs} ms`));
      resolve("timeout");
    }, timeoutMs);
  });
  try {
    const result = await Promise.race([probe.collect({ ...base, signal: controller.signal, deadline: started + timeoutMs }), timedOut]);
    const durationMs = performance.now() - started;
    if (result === "timeout") {
      base.log.warn({ probe: probe.name, timeoutMs }, "probe timed out");
      return { probe, output: null, run: { name: probe.name, status: "timeout", durationMs, detail: `no result within ${timeoutMs} ms` } };
    }
    return {
      probe, output: result,
      run: { name: probe.name, status: result.status, durationMs, ...(result.detail ? { detail: result.detail } : {}) },
    };
  } catch (err) {
    const durationMs = performance.now() - started;
    base.log.warn({ probe: probe.name, err: errorMessage(err) }, "probe failed");
    return { probe, output: null, run: { name: probe.name, status: "failed", durationMs, detail: errorMessage(err).slice(0, 1000) } };
  } finally {
    clearTimeout(timer);
  }
}
