/**
 * What the agent tells the controller about its libvirt connection: connected,
 * or unreachable with the connect error's reason and since when. The state is
 * unknown until the first connect attempt ends; after that every change (a new
 * reason while unreachable included) is passed to `onChange`, and `message()`
 * is what a session starts with.
 */
import { NightshiftError, errorMessage } from "../../shared/errors.js";
import { LibvirtConnectError } from "../libvirt/errors.js";
import type { LibvirtState } from "../../shared/protocol/messages.js";
import type { Unversioned } from "../../shared/protocol/codec.js";

export type LibvirtStateMessage = Unversioned<LibvirtState>;

/** The protocol's bound on `detail`. */
const MAX_DETAIL = 1024;

/** A short reason for a failed or lost libvirt connection, ending in its code: "socket /run/x missing (NS_ERR_LIBVIRT_SOCKET_MISSING)". */
export function libvirtReason(err: unknown): { code: string; detail: string } {
  const code = err instanceof NightshiftError ? err.code : "NS_ERR_LIBVIRT";
  let text: string;
  if (err instanceof LibvirtConnectError) {
    switch (err.code) {
      case "NS_ERR_LIBVIRT_SOCKET_MISSING":
        text = `socket ${err.socketPath} missing`;
        break;
      case "NS_ERR_LIBVIRT_ACCESS_DENIED":
        text = `permission denied on socket ${err.socketPath}`;
        break;
      default:
        text = err.message.replace(/^libvirt socket /, "socket ");
    }
  } else {
    text = errorMessage(err);
  }
  const suffix = ` (${code})`;
  if (text.length + suffix.length > MAX_DETAIL) text = `${text.slice(0, MAX_DETAIL - suffix.length - 1)}…`;
  return { code, detail: text + suffix };
}

export class LibvirtStateTracker {
  private current: LibvirtStateMessage | null = null;

  constructor(private readonly onChange: (message: LibvirtStateMessage) => void, private readonly now: () => Date = () => new Date()) {}

  /** The state to start a session with; null until the first connect attempt has ended. */
  message(): LibvirtStateMessage | null {
    return this.current;
  }

  get state(): LibvirtStateMessage["state"] | null {
    return this.current?.state ?? null;
  }

  connected(libvirtVersion: string): void {
    this.set({ type: "libvirt-state", state: "connected", since: this.now().toISOString(), libvirtVersion });
  }

  /** A failed attempt or a lost connection; while unreachable already, `since` stays and only a new reason is news. */
  unreachable(err: unknown): void {
    const { code, detail } = libvirtReason(err);
    const previous = this.current;
    if (previous?.state === "unreachable" && previous.detail === detail) return;
    const since = previous?.state === "unreachable" ? previous.since : this.now().toISOString();
    this.set({ type: "libvirt-state", state: "unreachable", since, code, detail });
  }

  private set(message: LibvirtStateMessage): void {
    this.current = message;
    this.onChange(message);
  }
}
