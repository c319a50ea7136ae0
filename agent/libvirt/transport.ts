/**
 * Transports: how bytes reach the daemon. The RPC core only needs a duplex
 * stream, so tests can hand it an in-memory pipe and production a unix socket.
 */
import net from "node:net";
import type { Duplex } from "node:stream";
import { LibvirtConnectError } from "./errors.js";

export interface Dialer {
  /** Opens a fresh byte stream to the daemon. */
  dial(): Promise<Duplex>;
  /** Where the stream goes, for messages. */
  readonly address: string;
}

export const DEFAULT_SOCKET_PATH = "/var/run/libvirt/libvirt-sock";

export class UnixSocketDialer implements Dialer {
  constructor(
    readonly address: string = DEFAULT_SOCKET_PATH,
    private readonly timeoutMs = 5_000,
  ) {}

  dial(): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path: this.address });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new LibvirtConnectError("NS_ERR_LIBVIRT_UNREACHABLE", this.address,
          `libvirtd did not accept a connection on ${this.address} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(socket);
      });
      socket.once("error", (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(socketError(this.address, err));
      });
    });
  }
}

function socketError(path: string, err: NodeJS.ErrnoException): LibvirtConnectError {
  switch (err.code) {
    case "ENOENT":
      return new LibvirtConnectError("NS_ERR_LIBVIRT_SOCKET_MISSING", path,
        `libvirt socket ${path} does not exist: is libvirtd installed and running? ` +
        `(start it, or pass --uri/--socket for another daemon)`, { cause: err });
    case "EACCES":
    case "EPERM":
      return new LibvirtConnectError("NS_ERR_LIBVIRT_ACCESS_DENIED", path,
        `permission denied on libvirt socket ${path}: run as root or as a member of the group that owns the socket ` +
        `(often 'libvirt')`, { cause: err });
    case "ECONNREFUSED":
      return new LibvirtConnectError("NS_ERR_LIBVIRT_UNREACHABLE", path,
        `libvirt socket ${path} exists but nothing accepts connections on it: libvirtd is not running`, { cause: err });
    default:
      return new LibvirtConnectError("NS_ERR_LIBVIRT_UNREACHABLE", path,
        `cannot connect to libvirt socket ${path}: ${err.message}`, { cause: err });
  }
}
