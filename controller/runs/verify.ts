/**
 * The verify checks that define "working" for a VM: it runs, its guest agent
 * answers, the operator's command exits 0 (with the expected output), TCP
 * ports accept connections from its hypervisor, URLs answer from the
 * controller. The same list runs as a pre-check, after the patch, and after a
 * rollback; every check writes its own evidence line.
 */
import type { RunSpec } from "../../shared/runs.js";
import type { StepRunner, StepOutcome } from "./step-runner.js";
import { matchOutput } from "./output-match.js";
import type { RunTimeouts } from "./timeouts.js";

export interface VerifyResult {
  pass: boolean;
  /** The first failed check, for the VM's reason. */
  failed: string | null;
  lost: boolean;
}

/** Output shown in evidence: the start of stdout (and stderr when there is any). */
export function excerpt(stdout: string, stderr: string, limit = 1024): string {
  const parts = [stdout.trimEnd()];
  if (stderr.trim()) parts.push(`[stderr] ${stderr.trimEnd()}`);
  const text = parts.filter(Boolean).join("\n");
  return text.length > limit ? `${text.slice(0, limit)}...` : text;
}

export function describeVerify(spec: RunSpec): string[] {
  const v = spec.verify;
  const checks = ["VM running", "guest agent answers"];
  if (v.exec) {
    const expected = v.output !== undefined ? ` and output = ${JSON.stringify(v.output)}`
      : v.outputPattern !== undefined ? ` and a line matching /^(?:${v.outputPattern})$/` : "";
    checks.push(`guest command \`${v.exec}\` exits 0${expected}`);
  }
  for (const port of v.tcp) checks.push(`TCP port ${port} open on the VM's address`);
  for (const url of v.http) checks.push(`GET ${url} answers ${v.httpStatus ?? "2xx"}`);
  return checks;
}

export async function verify(step: string, spec: RunSpec, vm: string, runner: StepRunner, timeouts: RunTimeouts): Promise<VerifyResult> {
  const results: [string, StepOutcome<unknown>][] = [];
  const fail = (): VerifyResult => {
    const failed = results.find(([, r]) => !r.pass);
    // One line: the reason is shown in tables; the evidence keeps the full output.
    const detail = failed ? (failed[1] as { detail: string }).detail.replace(/\s*\n\s*/g, " | ") : "";
    return { pass: false, failed: failed ? `${failed[0]}: ${detail}` : null,
      lost: results.some(([, r]) => !r.pass && r.lost) };
  };

  const state = await runner.run(step, "vm-running", `virDomainGetState ${vm}`, { kind: "inspect", vm },
    { timeoutMs: timeouts.quickMs, repeatable: true },
    (r) => ({ pass: r.state === "running", output: `state ${r.state} (${r.stateReason})` }));
  results.push(["VM running", state]);
  if (!state.pass) return fail();

  const ping = await runner.run(step, "guest-agent", `guest-ping ${vm}`, { kind: "guest-ping", vm },
    { timeoutMs: timeouts.quickMs, repeatable: true }, (r) => ({ pass: true, output: `answered in ${Math.round(r.durationMs)} ms` }));
  results.push(["guest agent", ping]);
  if (!ping.pass) return fail();

  const v = spec.verify;
  if (v.exec) {
    const exec = await runner.run(step, "exec", `guest-exec /bin/sh -c ${JSON.stringify(v.exec)}`,
      { kind: "guest-exec", vm, command: v.exec, timeoutMs: timeouts.verifyExecMs },
      { timeoutMs: timeouts.verifyExecMs + timeouts.marginMs, repeatable: true },
      (r) => {
        const out = excerpt(r.stdout, r.stderr);
        if (r.exitCode !== 0) return { pass: false, output: `exit ${r.exitCode ?? `signal ${r.signal}`}${out ? `\n${out}` : ""}` };
        const match = matchOutput(r.stdout, v, vm);
        if (match && !match.pass) return { pass: false, output: `exit 0, but expected ${match.expected}; got:\n${out}` };
        return { pass: true, output: `exit 0${match ? `, ${match.expected}` : ""}${out ? `\n${out}` : ""}` };
      });
    results.push([`verify command \`${v.exec}\``, exec]);
  }
  for (const port of v.tcp) {
    const tcp = await runner.run(step, `tcp:${port}`, `TCP connect ${vm}:${port} from its hypervisor`,
      { kind: "tcp-check", vm, port, timeoutMs: timeouts.tcpMs }, { timeoutMs: timeouts.tcpMs + timeouts.marginMs, repeatable: true },
      (r) => ({ pass: true, output: `${r.address}:${port} accepted in ${Math.round(r.connectMs)} ms` }));
    results.push([`TCP port ${port}`, tcp]);
  }
  for (const template of v.http) {
    const url = template.replaceAll("{vm}", encodeURIComponent(vm));
    const http = await runner.local(step, "http", `GET ${url}`, async () => {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeouts.httpMs), redirect: "manual" });
      await res.body?.cancel();
      const ok = v.httpStatus !== undefined ? res.status === v.httpStatus : res.status >= 200 && res.status < 300;
      return { pass: ok, output: `HTTP ${res.status} (expected ${v.httpStatus ?? "2xx"})` };
    });
    results.push([`GET ${url}`, http]);
  }
  return results.every(([, r]) => r.pass) ? { pass: true, failed: null, lost: false } : fail();
}
