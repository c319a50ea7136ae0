/**
 * Libvirt connection URIs, as far as this client serves them: local drivers
 * reached through the daemon's unix socket. `qemu:///system`,
 * `test:///default`, and `qemu+unix:///system?socket=/path` are accepted;
 * remote transports (ssh, tcp, tls) are refused with a clear message because
 * the agent always runs on the hypervisor it manages.
 */
import { NightshiftError } from "../../shared/errors.js";
import { DEFAULT_SOCKET_PATH } from "./transport.js";

export const DEFAULT_URI = "qemu:///system";

export interface ResolvedUri {
  /** The name sent in CONNECT_OPEN, without transport or client-side parameters. */
  driverUri: string;
  socketPath: string;
}

export class LibvirtUriError extends NightshiftError {
  constructor(uri: string, why: string) {
    super("NS_ERR_LIBVIRT_URI", `unsupported libvirt URI ${JSON.stringify(uri)}: ${why}`);
  }
}

export function resolveUri(uri: string = DEFAULT_URI, socketOverride?: string): ResolvedUri {
  const match = /^([a-z0-9]+)(?:\+([a-z0-9]+))?:\/\/([^/?]*)(\/[^?]*)?(?:\?(.*))?$/i.exec(uri);
  if (!match) throw new LibvirtUriError(uri, "expected driver[+unix]://[host]/path, e.g. qemu:///system");
  const [, driver, transport, host, path = "", query] = match;
  if (transport && transport.toLowerCase() !== "unix") {
    throw new LibvirtUriError(uri, `transport '${transport}' is not supported; run the agent on the hypervisor and use the local socket`);
  }
  if (host) {
    throw new LibvirtUriError(uri, `remote host '${host}' is not supported; run the agent on that host instead`);
  }
  const params = new URLSearchParams(query ?? "");
  const socketPath = socketOverride ?? params.get("socket") ?? DEFAULT_SOCKET_PATH;
  // Client-side parameters stay here; everything else is the driver's business.
  params.delete("socket");
  params.delete("no_verify");
  params.delete("mode");
  const rest = params.toString();
  return { driverUri: `${driver}://${path}${rest ? `?${rest}` : ""}`, socketPath };
}
