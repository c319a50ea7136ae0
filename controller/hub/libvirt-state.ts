/**
 * A host's libvirt state as its agent reports it (`libvirt-state`): stored on
 * the host, and while libvirt is unreachable a critical finding
 * NS_LIBVIRT_UNREACHABLE (subject: the agent's libvirt URI) with the reason
 * and what to do, resolved when the agent connects to libvirt again. Meanwhile
 * the host's VMs are as last reported. Call inside a store transaction.
 */
import type { Store } from "../store/index.js";
import type { LibvirtState } from "../../shared/protocol/messages.js";

export const LIBVIRT_UNREACHABLE = "NS_LIBVIRT_UNREACHABLE";

/** The remedy for each reason the agent gives; the socket is named when the reason names one. */
function remedy(code: string | undefined, hostName: string, socket: string | null): string {
  const where = socket ?? "the libvirt socket (libvirt.socket in agent.yaml, default /var/run/libvirt/libvirt-sock)";
  const check = `journalctl -u nightshift-agent on ${hostName} has each attempt`;
  switch (code) {
    case "NS_ERR_LIBVIRT_SOCKET_MISSING":
      return `start libvirtd on ${hostName} (systemctl start libvirtd; with the modular daemons: systemctl start virtqemud.socket), `
        + `or check the socket: the agent dials ${where}, which does not exist (libvirt.socket, --uri); ${check}`;
    case "NS_ERR_LIBVIRT_ACCESS_DENIED":
      return `run nightshift-agent as root, or as a member of the group that owns ${where} (often 'libvirt'); ${check}`;
    case "NS_ERR_LIBVIRT_UNREACHABLE":
      return `start or restart libvirtd on ${hostName} (systemctl restart libvirtd; with the modular daemons: virtqemud): `
        + `${where} does not answer; ${check}`;
    default:
      return `start libvirtd on ${hostName} (systemctl start libvirtd) and check ${where}; the reason is libvirt's own: ${check}`;
  }
}

/** The socket a reason names ("socket /run/x missing"), if any. */
function socketOf(detail: string | undefined): string | null {
  return /\bsocket (\/\S+)/.exec(detail ?? "")?.[1] ?? null;
}

export function applyLibvirtState(store: Store, hostId: number, hostName: string, uri: string | null, message: LibvirtState,
  now: number): { opened: boolean; resolved: number } {
  // The agent's clock may be off: a state it dates in the future began by now at the latest.
  const since = Math.min(Date.parse(message.since), now);
  const unreachable = message.state === "unreachable";
  store.hosts.recordLibvirtState(hostId, {
    state: message.state, since, code: unreachable ? message.code ?? null : null, detail: unreachable ? message.detail ?? null : null,
    libvirtVersion: message.state === "connected" ? message.libvirtVersion ?? null : null,
  });
  const subject = uri || "libvirt";
  let resolved = 0;
  // Whatever the subject: the URI may have changed since the finding was opened.
  for (const open of store.health.openSubjects(hostId, LIBVIRT_UNREACHABLE)) {
    if (unreachable && open === subject) continue;
    if (store.health.resolveFinding(hostId, LIBVIRT_UNREACHABLE, open, now)) resolved++;
  }
  if (!unreachable) return { opened: false, resolved };
  const reason = message.detail ?? message.code ?? "no reason given";
  const opened = store.health.upsertFinding(hostId, {
    code: LIBVIRT_UNREACHABLE, severity: "critical", subject, probe: "controller",
    message: `the agent on ${hostName} cannot reach libvirt ${subject} since ${new Date(since).toISOString()}: ${reason}; `
      + "its VMs are as last reported, their events are not seen, and maintenance steps on this host fail",
    remedy: remedy(message.code, hostName, socketOf(message.detail)),
  }, "controller", now);
  return { opened, resolved };
}
