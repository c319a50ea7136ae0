/**
 * Helpers for tests against the real libvirtd. Every domain a test defines
 * carries a per-run prefix, and cleanup only ever touches names with that
 * prefix, so tests never disturb domains they did not create.
 */
import { randomBytes } from "node:crypto";
import { LibvirtConnection } from "../../agent/libvirt/connection.js";
import { isNotFound } from "../../agent/libvirt/errors.js";
import { DomainUndefineFlags } from "../../agent/libvirt/protocol.js";
import type { DomainEvent } from "../../agent/libvirt/events.js";
import type { EventStream } from "../../agent/libvirt/event-stream.js";

export const SYSTEM_SOCKET = "/var/run/libvirt/libvirt-sock";

export function testPrefix(kind: string): string {
  return `nstest-${kind}-${randomBytes(3).toString("hex")}-`;
}

/** The i-th virtio disk's target as libvirt names them: vda ... vdz, vdaa, vdab, ... */
export function diskTarget(i: number): string {
  let suffix = "";
  for (let n = i + 1; n > 0; n = Math.floor((n - 1) / 26)) suffix = String.fromCharCode(97 + ((n - 1) % 26)) + suffix;
  return `vd${suffix}`;
}

export function testDriverDomainXml(name: string, opts: { memoryMiB?: number; disks?: string[] } = {}): string {
  const disks = (opts.disks ?? [`/var/lib/nightshift-test/${name}.img`])
    .map((src, i) => `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${src}'/>` +
      `<target dev='${diskTarget(i)}' bus='virtio'/></disk>`)
    .join("");
  return `<domain type='test'><name>${name}</name><memory unit='MiB'>${opts.memoryMiB ?? 128}</memory><vcpu>1</vcpu>` +
    `<os><type>hvm</type></os><devices>${disks}</devices></domain>`;
}

/** Destroys and undefines every domain whose name starts with `prefix`. */
export async function removeDomainsWithPrefix(conn: LibvirtConnection, prefix: string): Promise<void> {
  for (const dom of await conn.connectListAllDomains()) {
    if (!dom.name.startsWith(prefix)) continue;
    try {
      if (await conn.domainIsActive(dom)) await conn.domainDestroy(dom);
      if (await conn.domainIsPersistent(dom)) await conn.domainUndefine(dom, DomainUndefineFlags.SNAPSHOTS_METADATA);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

/** Waits for the first event matching `predicate`; fails after `timeoutMs`. */
export async function nextEvent(stream: EventStream<DomainEvent>, predicate: (e: DomainEvent) => boolean,
  timeoutMs = 5_000): Promise<DomainEvent> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no matching event within ${timeoutMs} ms`);
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      stream.next(),
      new Promise<"timeout">((resolve) => { timer = setTimeout(() => resolve("timeout"), left); }),
    ]);
    clearTimeout(timer);
    if (result === "timeout") throw new Error(`no matching event within ${timeoutMs} ms`);
    if (result.done) throw new Error("event stream ended while waiting for an event");
    if (predicate(result.value)) return result.value;
  }
}
