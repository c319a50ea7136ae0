/**
 * guest-ping with a bound on how long it may take, and waiting for the guest
 * agent to answer. libvirt answers at once while qemu-ga has not connected its
 * channel (early boot, reboot), but waits for the reply timeout while it is
 * connected and not answering; both are bounded here.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { errorMessage } from "../../shared/errors.js";
import { StepErrorCodes } from "../../shared/protocol/steps.js";
import type { LibvirtConnection } from "../libvirt/connection.js";
import { ConnectionInterruptedError } from "../libvirt/errors.js";
import { GuestAgent } from "../libvirt/guest-agent.js";
import type { DomainRef } from "../libvirt/remote-types.js";
import { StepError } from "./errors.js";

export type PingResult = { ok: true; durationMs: number } | { ok: false; error: unknown };

/** One guest-ping that gives up after `timeoutMs` (the libvirt call is left to finish on its own). */
export async function pingWithin(conn: LibvirtConnection, dom: DomainRef, timeoutMs: number): Promise<PingResult> {
  const started = performance.now();
  const agent = new GuestAgent(conn, dom, Math.max(1, Math.ceil(timeoutMs / 1000)));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<PingResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: new Error(`no answer within ${timeoutMs} ms`) }), timeoutMs);
  });
  const ping = agent.ping().then(
    (): PingResult => ({ ok: true, durationMs: performance.now() - started }),
    (error: unknown): PingResult => ({ ok: false, error }),
  );
  try {
    return await Promise.race([ping, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface WaitOptions {
  timeoutMs: number;
  /** Pause between pings; default 500 ms. */
  intervalMs?: number;
  /** Bound of one ping; default 3 s. */
  pingTimeoutMs?: number;
  /** Says what was waited for, in the timeout message. */
  what?: string;
}

/** Polls guest-ping until it answers; NS_ERR_STEP_TIMEOUT with the last error after `timeoutMs`. Returns the ms waited. */
export async function waitForGuestAgent(conn: LibvirtConnection, dom: DomainRef, options: WaitOptions): Promise<number> {
  const started = performance.now();
  const deadline = started + options.timeoutMs;
  let last: unknown = null;
  for (;;) {
    const left = deadline - performance.now();
    const result = await pingWithin(conn, dom, Math.max(1, Math.min(options.pingTimeoutMs ?? 3_000, left)));
    if (result.ok) return performance.now() - started;
    last = result.error;
    // A lost libvirt connection does not come back on this connection object: stop now.
    if (last instanceof ConnectionInterruptedError) throw last;
    const remaining = deadline - performance.now();
    if (remaining <= 0) {
      throw new StepError(StepErrorCodes.TIMEOUT, `the guest agent of VM ${dom.name} did not answer ${options.what ?? ""}within ` +
        `${options.timeoutMs} ms; last error: ${errorMessage(last)}`, { cause: last });
    }
    await sleep(Math.min(options.intervalMs ?? 500, remaining));
  }
}
