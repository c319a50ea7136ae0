/**
 * The RPC core: serial numbers, pending calls, routing of asynchronous
 * messages (events) and the keepalive program. It knows packets, not
 * procedures; the typed API lives in connection.ts.
 */
import type { Duplex } from "node:stream";
import { encodePacket, MessageStatus, MessageType, PacketDecoder, type Packet } from "./packet.js";
import { ConnectionInterruptedError, decodeLibvirtErrorBody, LibvirtError, LibvirtProtocolError } from "./errors.js";
import { KEEPALIVE_PROGRAM, KEEPALIVE_PROTOCOL_VERSION, KeepaliveProcedure } from "./protocol.js";
import { errorMessage } from "../../shared/errors.js";

export interface CallOptions {
  /** Names the call in error messages. */
  name?: string;
  /** Rejects the call (not the connection) when aborted; a late reply is dropped. */
  signal?: AbortSignal;
}

interface PendingCall {
  name: string;
  resolve(body: Buffer): void;
  reject(err: Error): void;
}

export type MessageHandler = (body: Buffer) => void;
export type CloseHandler = (reason: ConnectionInterruptedError) => void;

const SERIAL_MODULO = 0x1_0000_0000;

export class RpcClient {
  private readonly decoder = new PacketDecoder();
  private readonly pending = new Map<number, PendingCall>();
  private readonly messageHandlers = new Map<string, MessageHandler>();
  private readonly closeHandlers: CloseHandler[] = [];
  private nextSerial = 1;
  private closedWith: ConnectionInterruptedError | null = null;
  private keepalivePings = 0;

  constructor(
    private readonly stream: Duplex,
    private readonly onHandlerError: (err: unknown) => void = () => {},
  ) {
    stream.on("data", (chunk: Buffer) => this.receive(chunk));
    stream.on("error", (err) => this.shutdown(`socket error: ${err.message}`, err));
    stream.on("close", () => this.shutdown("the daemon closed the connection"));
    stream.on("end", () => this.shutdown("the daemon closed the connection"));
  }

  /** Sends a call and resolves with the reply body, or rejects with the daemon's error. */
  call(program: number, version: number, procedure: number, body: Buffer, options: CallOptions = {}): Promise<Buffer> {
    const name = options.name ?? `procedure ${procedure}`;
    if (this.closedWith) return Promise.reject(new ConnectionInterruptedError(`${name}: ${this.closedWith.message}`));
    if (options.signal?.aborted) return Promise.reject(abortError(name, options.signal));
    const serial = this.allocateSerial();
    return new Promise<Buffer>((resolve, reject) => {
      const onAbort = () => {
        if (this.pending.delete(serial)) reject(abortError(name, options.signal!));
      };
      const settle = () => options.signal?.removeEventListener("abort", onAbort);
      this.pending.set(serial, {
        name,
        resolve: (b) => { settle(); resolve(b); },
        reject: (e) => { settle(); reject(e); },
      });
      options.signal?.addEventListener("abort", onAbort, { once: true });
      try {
        this.stream.write(encodePacket({ program, version, procedure, type: MessageType.Call, serial, status: MessageStatus.Ok }, body));
      } catch (err) {
        this.pending.delete(serial);
        settle();
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Routes asynchronous messages (type MESSAGE) of one program/procedure to a handler. */
  onMessage(program: number, procedure: number, handler: MessageHandler): () => void {
    const key = `${program}:${procedure}`;
    this.messageHandlers.set(key, handler);
    return () => {
      if (this.messageHandlers.get(key) === handler) this.messageHandlers.delete(key);
    };
  }

  /** Called once when the connection ends, for whatever reason. */
  onClose(handler: CloseHandler): void {
    if (this.closedWith) handler(this.closedWith);
    else this.closeHandlers.push(handler);
  }

  get closed(): boolean {
    return this.closedWith !== null;
  }

  get pendingCalls(): number {
    return this.pending.size;
  }

  /** How many keepalive PINGs the daemon sent (each answered with a PONG). */
  get keepalivePingsAnswered(): number {
    return this.keepalivePings;
  }

  /** Ends the connection; pending calls fail with an interrupted error. */
  close(reason = "connection closed by the client"): void {
    this.shutdown(reason);
    this.stream.destroy();
  }

  private allocateSerial(): number {
    let serial = this.nextSerial;
    // Skip serials still in flight after a wrap-around (four billion calls later).
    while (this.pending.has(serial)) serial = (serial + 1) % SERIAL_MODULO;
    this.nextSerial = (serial + 1) % SERIAL_MODULO;
    return serial;
  }

  private receive(chunk: Buffer): void {
    let packets: Packet[];
    try {
      packets = this.decoder.push(chunk);
    } catch (err) {
      // A framing error leaves no way to find the next packet boundary.
      this.close(`unreadable data from the daemon: ${errorMessage(err)}`);
      return;
    }
    for (const packet of packets) this.dispatch(packet);
  }

  private dispatch({ header, body }: Packet): void {
    if (header.program === KEEPALIVE_PROGRAM) {
      if (header.procedure === KeepaliveProcedure.PING) this.answerPing();
      return;
    }
    switch (header.type) {
      case MessageType.Reply:
      case MessageType.ReplyWithFds: {
        const call = this.pending.get(header.serial);
        if (!call) return; // aborted by the caller; the daemon answered anyway
        this.pending.delete(header.serial);
        if (header.status === MessageStatus.Ok) {
          call.resolve(body);
        } else if (header.status === MessageStatus.Error) {
          try {
            call.reject(new LibvirtError(decodeLibvirtErrorBody(body), call.name));
          } catch (err) {
            call.reject(new LibvirtProtocolError(`undecodable error reply to ${call.name}: ${errorMessage(err)}`));
          }
        } else {
          call.reject(new LibvirtProtocolError(`unexpected status ${header.status} in reply to ${call.name}`));
        }
        return;
      }
      case MessageType.Message: {
        const handler = this.messageHandlers.get(`${header.program}:${header.procedure}`);
        if (!handler) return;
        try {
          handler(body);
        } catch (err) {
          this.onHandlerError(err);
        }
        return;
      }
      default:
        // Streams are not used by this client; ignore rather than drop the connection.
        return;
    }
  }

  private answerPing(): void {
    this.keepalivePings++;
    if (this.closedWith) return;
    this.stream.write(encodePacket({
      program: KEEPALIVE_PROGRAM,
      version: KEEPALIVE_PROTOCOL_VERSION,
      procedure: KeepaliveProcedure.PONG,
      type: MessageType.Message,
      serial: 0,
      status: MessageStatus.Ok,
    }));
  }

  private shutdown(reason: string, cause?: unknown): void {
    if (this.closedWith) return;
    const err = new ConnectionInterruptedError(reason, cause === undefined ? undefined : { cause });
    this.closedWith = err;
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const call of calls) call.reject(new ConnectionInterruptedError(`${call.name}: ${reason}`, { cause }));
    for (const handler of this.closeHandlers.splice(0)) handler(err);
    this.messageHandlers.clear();
  }
}

function abortError(name: string, signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new ConnectionInterruptedError(`${name}: aborted by the caller`);
}
