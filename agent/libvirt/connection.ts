/**
 * The typed API: one method per libvirt call, named after libvirt's own
 * (virDomainGetState -> domainGetState), over the RPC core.
 */
import { XdrReader, XdrWriter } from "./xdr.js";
import { RpcClient } from "./rpc.js";
import { UnixSocketDialer, type Dialer } from "./transport.js";
import { resolveUri, DEFAULT_URI } from "./uri.js";
import {
  AuthType, DomainState, DomainStateReasons, DriverFeature, ErrorCode, QEMU_PROGRAM, QEMU_PROTOCOL_VERSION,
  QemuProcedure, REMOTE_AUTH_TYPE_LIST_MAX, REMOTE_DOMAIN_LIST_MAX, REMOTE_DOMAIN_SNAPSHOT_LIST_MAX, REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION, REMOTE_STRING_MAX, RemoteProcedure, type DomainStateName,
} from "./protocol.js";
import {
  readBlockJobInfo, readDomain, readOptionalString, readSnapshot, uuidToBytes, writeBlockCommitArgs, writeDomain, writeOptionalString,
  writeSnapshot, type BlockCommitArgs, type BlockJobInfo, type DomainRef, type SnapshotRef,
} from "./remote-types.js";
import { EventStream } from "./event-stream.js";
import { decodeEventMessage, EVENT_ID_BY_KIND, EVENT_PROCEDURES, type DomainEvent, type DomainEventKind } from "./events.js";
import { isLibvirtError, LibvirtConnectError } from "./errors.js";

export interface ConnectOptions {
  /** Libvirt URI; default qemu:///system. */
  uri?: string;
  /** Overrides the socket the URI implies. */
  socketPath?: string;
  /** Overrides how the socket is reached (tests use in-memory pipes). */
  dialer?: Dialer;
  /** Ask the daemon for keepalive PINGs (answered automatically). Default true. */
  keepalive?: boolean;
  /** Called with errors thrown by event consumers' code paths; default ignores. */
  onHandlerError?: (err: unknown) => void;
}

export interface NodeInfo {
  model: string;
  memoryKiB: number;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

export interface DomainStateInfo {
  state: DomainStateName;
  reason: string;
  stateCode: number;
  reasonCode: number;
}

export interface DomainInfo {
  state: DomainStateName;
  maxMemoryKiB: number;
  memoryKiB: number;
  vcpus: number;
  cpuTimeNs: bigint;
}

export interface BlockInfo {
  capacity: number;
  allocation: number;
  physical: number;
}

export interface LibVersion {
  major: number;
  minor: number;
  release: number;
  /** libvirt's own encoding: major * 1,000,000 + minor * 1,000 + release. */
  number: number;
  text: string;
}

type Encode = (w: XdrWriter) => void;
type Decode<T> = (r: XdrReader) => T;

const noArgs: Encode = () => {};
const noResult: Decode<void> = () => {};

export function stateNames(stateCode: number, reasonCode: number): { state: DomainStateName; reason: string } {
  const state: DomainStateName = DomainState[stateCode] ?? "unknown";
  const reason = DomainStateReasons[state][reasonCode] ?? `reason-${reasonCode}`;
  return { state, reason };
}

export class LibvirtConnection {
  private readonly eventStreams = new Map<number, EventStream<DomainEvent>>();

  private constructor(
    private readonly rpc: RpcClient,
    readonly uri: string,
    readonly socketPath: string,
  ) {
    for (const procedure of EVENT_PROCEDURES) {
      rpc.onMessage(REMOTE_PROGRAM, procedure, (body) => {
        const { callbackId, event } = decodeEventMessage(procedure, body);
        this.eventStreams.get(callbackId)?.push(event);
      });
    }
    rpc.onClose((reason) => {
      for (const stream of this.eventStreams.values()) stream.end(reason);
      this.eventStreams.clear();
    });
  }

  /** Dials the daemon, authenticates (only 'none' is supported) and opens the driver the URI names. */
  static async open(options: ConnectOptions = {}): Promise<LibvirtConnection> {
    const { driverUri, socketPath } = resolveUri(options.uri ?? DEFAULT_URI, options.socketPath);
    const dialer = options.dialer ?? new UnixSocketDialer(socketPath);
    const stream = await dialer.dial();
    const conn = new LibvirtConnection(new RpcClient(stream, options.onHandlerError), driverUri, dialer.address);
    try {
      await conn.authenticate();
      if (options.keepalive !== false) await conn.connectSupportsFeature(DriverFeature.PROGRAM_KEEPALIVE);
      await conn.call(RemoteProcedure.CONNECT_OPEN, "connectOpen", (w) => {
        writeOptionalString(w, driverUri);
        w.uint(0);
      }, noResult);
    } catch (err) {
      conn.rpc.close("open failed");
      throw err;
    }
    return conn;
  }

  private async authenticate(): Promise<void> {
    const types = await this.call(RemoteProcedure.AUTH_LIST, "authList", noArgs,
      (r) => r.array((x) => x.int(), REMOTE_AUTH_TYPE_LIST_MAX));
    if (types.length === 0 || types.includes(AuthType.NONE)) return;
    const names = types.map((t) => AuthType[t] ?? String(t)).join(", ");
    throw new LibvirtConnectError("NS_ERR_LIBVIRT_ACCESS_DENIED", this.socketPath,
      `libvirtd requires authentication (${names}) on ${this.socketPath}, which this client does not perform: ` +
      `run the agent as root, or configure the socket's auth_unix_rw = "none" with restrictive unix_sock_group/unix_sock_rw_perms`);
  }

  private async call<T>(procedure: RemoteProcedure, name: string, encode: Encode, decode: Decode<T>): Promise<T> {
    const w = new XdrWriter();
    encode(w);
    const body = await this.rpc.call(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, procedure, w.toBuffer(), { name });
    const r = new XdrReader(body);
    const result = decode(r);
    r.end();
    return result;
  }

  // --- connection and host ---------------------------------------------------

  get isClosed(): boolean {
    return this.rpc.closed;
  }

  get keepalivePingsAnswered(): number {
    return this.rpc.keepalivePingsAnswered;
  }

  /** Called once when the connection ends, whether closed by us or lost. */
  onClose(handler: (reason: Error) => void): void {
    this.rpc.onClose(handler);
  }

  async connectClose(): Promise<void> {
    if (this.rpc.closed) return;
    try {
      await this.call(RemoteProcedure.CONNECT_CLOSE, "connectClose", noArgs, noResult);
    } finally {
      this.rpc.close();
    }
  }

  connectSupportsFeature(feature: DriverFeature): Promise<boolean> {
    return this.call(RemoteProcedure.CONNECT_SUPPORTS_FEATURE, "connectSupportsFeature", (w) => w.int(feature), (r) => r.int() !== 0);
  }

  async connectGetLibVersion(): Promise<LibVersion> {
    const number = Number(await this.call(RemoteProcedure.CONNECT_GET_LIB_VERSION, "connectGetLibVersion", noArgs, (r) => r.uhyper()));
    const major = Math.floor(number / 1_000_000);
    const minor = Math.floor((number % 1_000_000) / 1_000);
    const release = number % 1_000;
    return { major, minor, release, number, text: `${major}.${minor}.${release}` };
  }

  connectGetHostname(): Promise<string> {
    return this.call(RemoteProcedure.CONNECT_GET_HOSTNAME, "connectGetHostname", noArgs, (r) => r.string(REMOTE_STRING_MAX));
  }

  connectGetURI(): Promise<string> {
    return this.call(RemoteProcedure.CONNECT_GET_URI, "connectGetURI", noArgs, (r) => r.string(REMOTE_STRING_MAX));
  }

  nodeGetInfo(): Promise<NodeInfo> {
    return this.call(RemoteProcedure.NODE_GET_INFO, "nodeGetInfo", noArgs, (r) => {
      // char model[32]: rpcgen sends each char as a 4-byte int.
      const chars: number[] = [];
      for (let i = 0; i < 32; i++) chars.push(r.int());
      const end = chars.indexOf(0);
      const model = String.fromCharCode(...(end >= 0 ? chars.slice(0, end) : chars));
      return {
        model, memoryKiB: r.uhyperNumber(), cpus: r.int(), mhz: r.int(), nodes: r.int(), sockets: r.int(),
        cores: r.int(), threads: r.int(),
      };
    });
  }

  // --- domains ----------------------------------------------------------------

  /** Every domain, running or defined; `flags` narrows (ConnectListAllDomainsFlags). */
  connectListAllDomains(flags = 0): Promise<DomainRef[]> {
    return this.call(RemoteProcedure.CONNECT_LIST_ALL_DOMAINS, "connectListAllDomains", (w) => w.int(1).uint(flags), (r) => {
      const domains = r.array(readDomain, REMOTE_DOMAIN_LIST_MAX);
      r.uint();
      return domains;
    });
  }

  domainLookupByName(name: string): Promise<DomainRef> {
    return this.call(RemoteProcedure.DOMAIN_LOOKUP_BY_NAME, "domainLookupByName", (w) => w.string(name, REMOTE_STRING_MAX), readDomain);
  }

  domainLookupByUUID(uuid: string): Promise<DomainRef> {
    return this.call(RemoteProcedure.DOMAIN_LOOKUP_BY_UUID, "domainLookupByUUID", (w) => w.fixedOpaque(uuidToBytes(uuid), 16), readDomain);
  }

  domainGetState(dom: DomainRef): Promise<DomainStateInfo> {
    return this.call(RemoteProcedure.DOMAIN_GET_STATE, "domainGetState", (w) => { writeDomain(w, dom); w.uint(0); }, (r) => {
      const stateCode = r.int();
      const reasonCode = r.int();
      return { ...stateNames(stateCode, reasonCode), stateCode, reasonCode };
    });
  }

  domainGetInfo(dom: DomainRef): Promise<DomainInfo> {
    return this.call(RemoteProcedure.DOMAIN_GET_INFO, "domainGetInfo", (w) => writeDomain(w, dom), (r) => ({
      state: DomainState[r.uint()] ?? "unknown",
      maxMemoryKiB: r.uhyperNumber(),
      memoryKiB: r.uhyperNumber(),
      vcpus: r.uint(),
      cpuTimeNs: r.uhyper(),
    }));
  }

  domainGetXMLDesc(dom: DomainRef, flags = 0): Promise<string> {
    return this.call(RemoteProcedure.DOMAIN_GET_XML_DESC, "domainGetXMLDesc", (w) => { writeDomain(w, dom); w.uint(flags); },
      (r) => r.string(REMOTE_STRING_MAX));
  }

  domainGetAutostart(dom: DomainRef): Promise<boolean> {
    return this.call(RemoteProcedure.DOMAIN_GET_AUTOSTART, "domainGetAutostart", (w) => writeDomain(w, dom), (r) => r.int() !== 0);
  }

  domainSetAutostart(dom: DomainRef, autostart: boolean): Promise<void> {
    return this.call(RemoteProcedure.DOMAIN_SET_AUTOSTART, "domainSetAutostart", (w) => { writeDomain(w, dom); w.int(autostart ? 1 : 0); }, noResult);
  }

  domainIsPersistent(dom: DomainRef): Promise<boolean> {
    return this.call(RemoteProcedure.DOMAIN_IS_PERSISTENT, "domainIsPersistent", (w) => writeDomain(w, dom), (r) => r.int() !== 0);
  }

  domainIsActive(dom: DomainRef): Promise<boolean> {
    return this.call(RemoteProcedure.DOMAIN_IS_ACTIVE, "domainIsActive", (w) => writeDomain(w, dom), (r) => r.int() !== 0);
  }

  domainDefineXML(xml: string, flags = 0): Promise<DomainRef> {
    return this.call(RemoteProcedure.DOMAIN_DEFINE_XML_FLAGS, "domainDefineXML", (w) => { w.string(xml, REMOTE_STRING_MAX); w.uint(flags); }, readDomain);
  }

  domainUndefine(dom: DomainRef, flags = 0): Promise<void> {
    return this.call(RemoteProcedure.DOMAIN_UNDEFINE_FLAGS, "domainUndefine", (w) => { writeDomain(w, dom); w.uint(flags); }, noResult);
  }

  /** Starts a defined domain (virDomainCreateWithFlags); returns it with its new id. */
  domainCreate(dom: DomainRef, flags = 0): Promise<DomainRef> {
    return this.call(RemoteProcedure.DOMAIN_CREATE_WITH_FLAGS, "domainCreate", (w) => { writeDomain(w, dom); w.uint(flags); }, readDomain);
  }

  domainShutdown(dom: DomainRef, flags = 0): Promise<void> {
    return this.call(RemoteProcedure.DOMAIN_SHUTDOWN_FLAGS, "domainShutdown", (w) => { writeDomain(w, dom); w.uint(flags); }, noResult);
  }

  domainReboot(dom: DomainRef, flags = 0): Promise<void> {
    return this.call(RemoteProcedure.DOMAIN_REBOOT, "domainReboot", (w) => { writeDomain(w, dom); w.uint(flags); }, noResult);
  }

  domainDestroy(dom: DomainRef, flags = 0): Promise<void> {
    return this.call(RemoteProcedure.DOMAIN_DESTROY_FLAGS, "domainDestroy", (w) => { writeDomain(w, dom); w.uint(flags); }, noResult);
  }

  /** Sizes in bytes of one disk, named by target ("vda") or source path. */
  domainGetBlockInfo(dom: DomainRef, disk: string): Promise<BlockInfo> {
    return this.call(RemoteProcedure.DOMAIN_GET_BLOCK_INFO, "domainGetBlockInfo",
      (w) => { writeDomain(w, dom); w.string(disk, REMOTE_STRING_MAX); w.uint(0); },
      (r) => ({ allocation: r.uhyperNumber(), capacity: r.uhyperNumber(), physical: r.uhyperNumber() }));
  }

  // --- block jobs -------------------------------------------------------------

  /**
   * Starts a block commit job (virDomainBlockCommit). Flags: DomainBlockCommitFlags; an active commit
   * (ACTIVE) stays ready until domainBlockJobAbort pivots (PIVOT) or abandons it.
   */
  domainBlockCommit(dom: DomainRef, args: BlockCommitArgs): Promise<void> {
    return this.call(RemoteProcedure.DOMAIN_BLOCK_COMMIT, "domainBlockCommit", (w) => writeBlockCommitArgs(w, dom, args), noResult);
  }

  /** The block job running on a disk (target or source path), or null when it has none. */
  domainGetBlockJobInfo(dom: DomainRef, disk: string, flags = 0): Promise<BlockJobInfo | null> {
    return this.call(RemoteProcedure.DOMAIN_GET_BLOCK_JOB_INFO, "domainGetBlockJobInfo",
      (w) => { writeDomain(w, dom); w.string(disk, REMOTE_STRING_MAX); w.uint(flags); }, readBlockJobInfo);
  }

  /** Ends a disk's block job (virDomainBlockJobAbort). Flags: DomainBlockJobAbortFlags (PIVOT, ASYNC). */
  domainBlockJobAbort(dom: DomainRef, disk: string, flags = 0): Promise<void> {
    return this.call(RemoteProcedure.DOMAIN_BLOCK_JOB_ABORT, "domainBlockJobAbort",
      (w) => { writeDomain(w, dom); w.string(disk, REMOTE_STRING_MAX); w.uint(flags); }, noResult);
  }

  // --- snapshots --------------------------------------------------------------

  /** Flags: DomainSnapshotCreateFlags (DISK_ONLY, ATOMIC, QUIESCE, ...). */
  domainSnapshotCreateXML(dom: DomainRef, xml: string, flags = 0): Promise<SnapshotRef> {
    return this.call(RemoteProcedure.DOMAIN_SNAPSHOT_CREATE_XML, "domainSnapshotCreateXML",
      (w) => { writeDomain(w, dom); w.string(xml, REMOTE_STRING_MAX); w.uint(flags); }, readSnapshot);
  }

  domainListAllSnapshots(dom: DomainRef, flags = 0): Promise<SnapshotRef[]> {
    return this.call(RemoteProcedure.DOMAIN_LIST_ALL_SNAPSHOTS, "domainListAllSnapshots",
      (w) => { writeDomain(w, dom); w.int(1); w.uint(flags); },
      (r) => {
        const snapshots = r.array(readSnapshot, REMOTE_DOMAIN_SNAPSHOT_LIST_MAX);
        r.int();
        return snapshots;
      });
  }

  domainSnapshotLookupByName(dom: DomainRef, name: string): Promise<SnapshotRef> {
    return this.call(RemoteProcedure.DOMAIN_SNAPSHOT_LOOKUP_BY_NAME, "domainSnapshotLookupByName",
      (w) => { writeDomain(w, dom); w.string(name, REMOTE_STRING_MAX); w.uint(0); }, readSnapshot);
  }

  /** The current snapshot, or null when the domain has none. */
  async domainSnapshotCurrent(dom: DomainRef): Promise<SnapshotRef | null> {
    try {
      return await this.call(RemoteProcedure.DOMAIN_SNAPSHOT_CURRENT, "domainSnapshotCurrent",
        (w) => { writeDomain(w, dom); w.uint(0); }, readSnapshot);
    } catch (err) {
      if (isLibvirtError(err, ErrorCode.VIR_ERR_NO_DOMAIN_SNAPSHOT)) return null;
      throw err;
    }
  }

  domainHasCurrentSnapshot(dom: DomainRef): Promise<boolean> {
    return this.call(RemoteProcedure.DOMAIN_HAS_CURRENT_SNAPSHOT, "domainHasCurrentSnapshot",
      (w) => { writeDomain(w, dom); w.uint(0); }, (r) => r.int() !== 0);
  }

  domainSnapshotGetXMLDesc(snap: SnapshotRef, flags = 0): Promise<string> {
    return this.call(RemoteProcedure.DOMAIN_SNAPSHOT_GET_XML_DESC, "domainSnapshotGetXMLDesc",
      (w) => { writeSnapshot(w, snap); w.uint(flags); }, (r) => r.string(REMOTE_STRING_MAX));
  }

  /** Flags: DomainSnapshotRevertFlags (RUNNING, PAUSED, FORCE). */
  domainRevertToSnapshot(snap: SnapshotRef, flags = 0): Promise<void> {
    return this.call(RemoteProcedure.DOMAIN_REVERT_TO_SNAPSHOT, "domainRevertToSnapshot",
      (w) => { writeSnapshot(w, snap); w.uint(flags); }, noResult);
  }

  domainSnapshotDelete(snap: SnapshotRef, flags = 0): Promise<void> {
    return this.call(RemoteProcedure.DOMAIN_SNAPSHOT_DELETE, "domainSnapshotDelete",
      (w) => { writeSnapshot(w, snap); w.uint(flags); }, noResult);
  }

  // --- events -----------------------------------------------------------------

  /**
   * Subscribes to domain events of the given kinds (all domains, or one).
   * Events arrive on the returned stream until `close()` is awaited or the
   * connection ends; then the stream ends too.
   */
  async domainEvents(kinds: readonly DomainEventKind[] = ["lifecycle", "reboot", "agent-lifecycle"],
    dom: DomainRef | null = null, capacity = 10_000): Promise<DomainEventSubscription> {
    const callbackIds: number[] = [];
    let closed = false;
    const close = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      stream.end();
      for (const id of callbackIds) {
        this.eventStreams.delete(id);
        if (!this.rpc.closed) await this.connectDomainEventCallbackDeregisterAny(id);
      }
    };
    const stream = new EventStream<DomainEvent>(capacity, () => { void close().catch(() => {}); });
    try {
      for (const kind of kinds) {
        const id = await this.connectDomainEventCallbackRegisterAny(EVENT_ID_BY_KIND[kind], dom);
        callbackIds.push(id);
        this.eventStreams.set(id, stream);
      }
    } catch (err) {
      await close().catch(() => {});
      throw err;
    }
    return { events: stream, close };
  }

  connectDomainEventCallbackRegisterAny(eventId: number, dom: DomainRef | null): Promise<number> {
    return this.call(RemoteProcedure.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, "connectDomainEventCallbackRegisterAny",
      (w) => { w.int(eventId); w.optional(dom, writeDomain); }, (r) => r.int());
  }

  connectDomainEventCallbackDeregisterAny(callbackId: number): Promise<void> {
    return this.call(RemoteProcedure.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, "connectDomainEventCallbackDeregisterAny",
      (w) => w.int(callbackId), noResult);
  }

  // --- QEMU guest agent -------------------------------------------------------

  /**
   * Sends a raw guest-agent command (JSON text) through libvirt's QEMU program.
   * `timeoutSeconds` is libvirt's agent timeout (AgentResponseTimeout or seconds).
   */
  async qemuAgentCommand(dom: DomainRef, command: string, timeoutSeconds: number, flags = 0): Promise<string | null> {
    const w = new XdrWriter();
    writeDomain(w, dom);
    w.string(command, REMOTE_STRING_MAX);
    w.int(timeoutSeconds);
    w.uint(flags);
    const body = await this.rpc.call(QEMU_PROGRAM, QEMU_PROTOCOL_VERSION, QemuProcedure.DOMAIN_AGENT_COMMAND, w.toBuffer(),
      { name: "qemuAgentCommand" });
    const r = new XdrReader(body);
    const result = readOptionalString(r);
    r.end();
    return result;
  }
}

export interface DomainEventSubscription {
  events: EventStream<DomainEvent>;
  close(): Promise<void>;
}
