/**
 * Numbers of libvirt's RPC protocol and public API, from libvirt 9.0's
 * remote_protocol.x, qemu_protocol.x, virkeepaliveprotocol.x and public headers.
 * These are wire-stable: libvirt only ever appends.
 */

export const REMOTE_PROGRAM = 0x20008086;
export const REMOTE_PROTOCOL_VERSION = 1;
export const QEMU_PROGRAM = 0x20008087;
export const QEMU_PROTOCOL_VERSION = 1;
export const KEEPALIVE_PROGRAM = 0x6b656570;
export const KEEPALIVE_PROTOCOL_VERSION = 1;

/** REMOTE_STRING_MAX and friends: the daemon refuses anything larger. */
export const REMOTE_STRING_MAX = 4_194_304;
export const REMOTE_DOMAIN_LIST_MAX = 16_384;
export const REMOTE_DOMAIN_SNAPSHOT_LIST_MAX = 16_384;
export const REMOTE_AUTH_TYPE_LIST_MAX = 20;
export const VIR_UUID_BUFLEN = 16;

export enum ErrorCode {
  VIR_ERR_OK = 0,
  VIR_ERR_INTERNAL_ERROR = 1,
  VIR_ERR_NO_MEMORY = 2,
  VIR_ERR_NO_SUPPORT = 3,
  VIR_ERR_UNKNOWN_HOST = 4,
  VIR_ERR_NO_CONNECT = 5,
  VIR_ERR_INVALID_CONN = 6,
  VIR_ERR_INVALID_DOMAIN = 7,
  VIR_ERR_INVALID_ARG = 8,
  VIR_ERR_OPERATION_FAILED = 9,
  VIR_ERR_GET_FAILED = 10,
  VIR_ERR_POST_FAILED = 11,
  VIR_ERR_HTTP_ERROR = 12,
  VIR_ERR_SEXPR_SERIAL = 13,
  VIR_ERR_NO_XEN = 14,
  VIR_ERR_XEN_CALL = 15,
  VIR_ERR_OS_TYPE = 16,
  VIR_ERR_NO_KERNEL = 17,
  VIR_ERR_NO_ROOT = 18,
  VIR_ERR_NO_SOURCE = 19,
  VIR_ERR_NO_TARGET = 20,
  VIR_ERR_NO_NAME = 21,
  VIR_ERR_NO_OS = 22,
  VIR_ERR_NO_DEVICE = 23,
  VIR_ERR_NO_XENSTORE = 24,
  VIR_ERR_DRIVER_FULL = 25,
  VIR_ERR_CALL_FAILED = 26,
  VIR_ERR_XML_ERROR = 27,
  VIR_ERR_DOM_EXIST = 28,
  VIR_ERR_OPERATION_DENIED = 29,
  VIR_ERR_OPEN_FAILED = 30,
  VIR_ERR_READ_FAILED = 31,
  VIR_ERR_PARSE_FAILED = 32,
  VIR_ERR_CONF_SYNTAX = 33,
  VIR_ERR_WRITE_FAILED = 34,
  VIR_ERR_XML_DETAIL = 35,
  VIR_ERR_INVALID_NETWORK = 36,
  VIR_ERR_NETWORK_EXIST = 37,
  VIR_ERR_SYSTEM_ERROR = 38,
  VIR_ERR_RPC = 39,
  VIR_ERR_GNUTLS_ERROR = 40,
  VIR_WAR_NO_NETWORK = 41,
  VIR_ERR_NO_DOMAIN = 42,
  VIR_ERR_NO_NETWORK = 43,
  VIR_ERR_INVALID_MAC = 44,
  VIR_ERR_AUTH_FAILED = 45,
  VIR_ERR_INVALID_STORAGE_POOL = 46,
  VIR_ERR_INVALID_STORAGE_VOL = 47,
  VIR_WAR_NO_STORAGE = 48,
  VIR_ERR_NO_STORAGE_POOL = 49,
  VIR_ERR_NO_STORAGE_VOL = 50,
  VIR_WAR_NO_NODE = 51,
  VIR_ERR_INVALID_NODE_DEVICE = 52,
  VIR_ERR_NO_NODE_DEVICE = 53,
  VIR_ERR_NO_SECURITY_MODEL = 54,
  VIR_ERR_OPERATION_INVALID = 55,
  VIR_WAR_NO_INTERFACE = 56,
  VIR_ERR_NO_INTERFACE = 57,
  VIR_ERR_INVALID_INTERFACE = 58,
  VIR_ERR_MULTIPLE_INTERFACES = 59,
  VIR_WAR_NO_NWFILTER = 60,
  VIR_ERR_INVALID_NWFILTER = 61,
  VIR_ERR_NO_NWFILTER = 62,
  VIR_ERR_BUILD_FIREWALL = 63,
  VIR_WAR_NO_SECRET = 64,
  VIR_ERR_INVALID_SECRET = 65,
  VIR_ERR_NO_SECRET = 66,
  VIR_ERR_CONFIG_UNSUPPORTED = 67,
  VIR_ERR_OPERATION_TIMEOUT = 68,
  VIR_ERR_MIGRATE_PERSIST_FAILED = 69,
  VIR_ERR_HOOK_SCRIPT_FAILED = 70,
  VIR_ERR_INVALID_DOMAIN_SNAPSHOT = 71,
  VIR_ERR_NO_DOMAIN_SNAPSHOT = 72,
  VIR_ERR_INVALID_STREAM = 73,
  VIR_ERR_ARGUMENT_UNSUPPORTED = 74,
  VIR_ERR_STORAGE_PROBE_FAILED = 75,
  VIR_ERR_STORAGE_POOL_BUILT = 76,
  VIR_ERR_SNAPSHOT_REVERT_RISKY = 77,
  VIR_ERR_OPERATION_ABORTED = 78,
  VIR_ERR_AUTH_CANCELLED = 79,
  VIR_ERR_NO_DOMAIN_METADATA = 80,
  VIR_ERR_MIGRATE_UNSAFE = 81,
  VIR_ERR_OVERFLOW = 82,
  VIR_ERR_BLOCK_COPY_ACTIVE = 83,
  VIR_ERR_OPERATION_UNSUPPORTED = 84,
  VIR_ERR_SSH = 85,
  VIR_ERR_AGENT_UNRESPONSIVE = 86,
  VIR_ERR_RESOURCE_BUSY = 87,
  VIR_ERR_ACCESS_DENIED = 88,
  VIR_ERR_DBUS_SERVICE = 89,
  VIR_ERR_STORAGE_VOL_EXIST = 90,
  VIR_ERR_CPU_INCOMPATIBLE = 91,
  VIR_ERR_XML_INVALID_SCHEMA = 92,
  VIR_ERR_MIGRATE_FINISH_OK = 93,
  VIR_ERR_AUTH_UNAVAILABLE = 94,
  VIR_ERR_NO_SERVER = 95,
  VIR_ERR_NO_CLIENT = 96,
  VIR_ERR_AGENT_UNSYNCED = 97,
  VIR_ERR_LIBSSH = 98,
  VIR_ERR_DEVICE_MISSING = 99,
  VIR_ERR_INVALID_NWFILTER_BINDING = 100,
  VIR_ERR_NO_NWFILTER_BINDING = 101,
  VIR_ERR_INVALID_DOMAIN_CHECKPOINT = 102,
  VIR_ERR_NO_DOMAIN_CHECKPOINT = 103,
  VIR_ERR_NO_DOMAIN_BACKUP = 104,
  VIR_ERR_INVALID_NETWORK_PORT = 105,
  VIR_ERR_NETWORK_PORT_EXIST = 106,
  VIR_ERR_NO_NETWORK_PORT = 107,
  VIR_ERR_NO_HOSTNAME = 108,
  VIR_ERR_CHECKPOINT_INCONSISTENT = 109,
  VIR_ERR_MULTIPLE_DOMAINS = 110,
}

export enum ErrorDomain {
  VIR_FROM_NONE = 0,
  VIR_FROM_XEN = 1,
  VIR_FROM_XEND = 2,
  VIR_FROM_XENSTORE = 3,
  VIR_FROM_SEXPR = 4,
  VIR_FROM_XML = 5,
  VIR_FROM_DOM = 6,
  VIR_FROM_RPC = 7,
  VIR_FROM_PROXY = 8,
  VIR_FROM_CONF = 9,
  VIR_FROM_QEMU = 10,
  VIR_FROM_NET = 11,
  VIR_FROM_TEST = 12,
  VIR_FROM_REMOTE = 13,
  VIR_FROM_OPENVZ = 14,
  VIR_FROM_XENXM = 15,
  VIR_FROM_STATS_LINUX = 16,
  VIR_FROM_LXC = 17,
  VIR_FROM_STORAGE = 18,
  VIR_FROM_NETWORK = 19,
  VIR_FROM_DOMAIN = 20,
  VIR_FROM_UML = 21,
  VIR_FROM_NODEDEV = 22,
  VIR_FROM_XEN_INOTIFY = 23,
  VIR_FROM_SECURITY = 24,
  VIR_FROM_VBOX = 25,
  VIR_FROM_INTERFACE = 26,
  VIR_FROM_ONE = 27,
  VIR_FROM_ESX = 28,
  VIR_FROM_PHYP = 29,
  VIR_FROM_SECRET = 30,
  VIR_FROM_CPU = 31,
  VIR_FROM_XENAPI = 32,
  VIR_FROM_NWFILTER = 33,
  VIR_FROM_HOOK = 34,
  VIR_FROM_DOMAIN_SNAPSHOT = 35,
  VIR_FROM_AUDIT = 36,
  VIR_FROM_SYSINFO = 37,
  VIR_FROM_STREAMS = 38,
  VIR_FROM_VMWARE = 39,
  VIR_FROM_EVENT = 40,
  VIR_FROM_LIBXL = 41,
  VIR_FROM_LOCKING = 42,
  VIR_FROM_HYPERV = 43,
  VIR_FROM_CAPABILITIES = 44,
  VIR_FROM_URI = 45,
  VIR_FROM_AUTH = 46,
  VIR_FROM_DBUS = 47,
  VIR_FROM_PARALLELS = 48,
  VIR_FROM_DEVICE = 49,
  VIR_FROM_SSH = 50,
  VIR_FROM_LOCKSPACE = 51,
  VIR_FROM_INITCTL = 52,
  VIR_FROM_IDENTITY = 53,
  VIR_FROM_CGROUP = 54,
  VIR_FROM_ACCESS = 55,
  VIR_FROM_SYSTEMD = 56,
  VIR_FROM_BHYVE = 57,
  VIR_FROM_CRYPTO = 58,
  VIR_FROM_FIREWALL = 59,
  VIR_FROM_POLKIT = 60,
  VIR_FROM_THREAD = 61,
  VIR_FROM_ADMIN = 62,
  VIR_FROM_LOGGING = 63,
  VIR_FROM_XENXL = 64,
  VIR_FROM_PERF = 65,
  VIR_FROM_LIBSSH = 66,
  VIR_FROM_RESCTRL = 67,
  VIR_FROM_FIREWALLD = 68,
  VIR_FROM_DOMAIN_CHECKPOINT = 69,
  VIR_FROM_TPM = 70,
  VIR_FROM_BPF = 71,
  VIR_FROM_CH = 72,
}

/** The remote program's procedures this client speaks. */
export enum RemoteProcedure {
  CONNECT_OPEN = 1,
  CONNECT_CLOSE = 2,
  NODE_GET_INFO = 6,
  DOMAIN_GET_XML_DESC = 14,
  DOMAIN_GET_AUTOSTART = 15,
  DOMAIN_GET_INFO = 16,
  DOMAIN_LOOKUP_BY_NAME = 23,
  DOMAIN_LOOKUP_BY_UUID = 24,
  DOMAIN_REBOOT = 27,
  DOMAIN_SET_AUTOSTART = 29,
  CONNECT_GET_HOSTNAME = 59,
  CONNECT_SUPPORTS_FEATURE = 60,
  AUTH_LIST = 66,
  CONNECT_GET_URI = 110,
  DOMAIN_IS_ACTIVE = 150,
  DOMAIN_IS_PERSISTENT = 151,
  CONNECT_GET_LIB_VERSION = 157,
  DOMAIN_SNAPSHOT_CREATE_XML = 185,
  DOMAIN_SNAPSHOT_GET_XML_DESC = 186,
  DOMAIN_SNAPSHOT_LOOKUP_BY_NAME = 189,
  DOMAIN_HAS_CURRENT_SNAPSHOT = 190,
  DOMAIN_SNAPSHOT_CURRENT = 191,
  DOMAIN_REVERT_TO_SNAPSHOT = 192,
  DOMAIN_SNAPSHOT_DELETE = 193,
  DOMAIN_GET_BLOCK_INFO = 194,
  DOMAIN_CREATE_WITH_FLAGS = 196,
  DOMAIN_GET_STATE = 212,
  DOMAIN_UNDEFINE_FLAGS = 231,
  DOMAIN_DESTROY_FLAGS = 234,
  DOMAIN_BLOCK_JOB_ABORT = 237,
  DOMAIN_GET_BLOCK_JOB_INFO = 238,
  DOMAIN_SHUTDOWN_FLAGS = 258,
  CONNECT_LIST_ALL_DOMAINS = 273,
  DOMAIN_LIST_ALL_SNAPSHOTS = 274,
  DOMAIN_BLOCK_COMMIT = 290,
  CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY = 316,
  CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY = 317,
  DOMAIN_EVENT_CALLBACK_LIFECYCLE = 318,
  DOMAIN_EVENT_CALLBACK_REBOOT = 319,
  DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE = 348,
  DOMAIN_DEFINE_XML_FLAGS = 350,
}

export enum QemuProcedure {
  DOMAIN_AGENT_COMMAND = 3,
}

export enum KeepaliveProcedure {
  PING = 1,
  PONG = 2,
}

export enum AuthType {
  NONE = 0,
  SASL = 1,
  POLKIT = 2,
}

/** VIR_DRV_FEATURE_*: asked with CONNECT_SUPPORTS_FEATURE. */
export enum DriverFeature {
  /** Asking for it is what makes the daemon start sending keepalive PINGs. */
  PROGRAM_KEEPALIVE = 10,
  REMOTE_EVENT_CALLBACK = 14,
}

export enum DomainEventId {
  LIFECYCLE = 0,
  REBOOT = 1,
  AGENT_LIFECYCLE = 18,
}

export const DomainState = ["nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended"] as const;
export type DomainStateName = (typeof DomainState)[number] | "unknown";

/** Reason names per state, indexed by libvirt's reason number (virDomain*Reason). */
export const DomainStateReasons: Record<DomainStateName, readonly string[]> = {
  nostate: ["unknown"],
  running: ["unknown", "booted", "migrated", "restored", "from-snapshot", "unpaused", "migration-canceled",
    "save-canceled", "wakeup", "crashed", "postcopy", "postcopy-failed"],
  blocked: ["unknown"],
  paused: ["unknown", "user", "migration", "save", "dump", "ioerror", "watchdog", "from-snapshot", "shutting-down",
    "snapshot", "crashed", "starting-up", "postcopy", "postcopy-failed"],
  shutdown: ["unknown", "user"],
  shutoff: ["unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from-snapshot", "daemon"],
  crashed: ["unknown", "panicked"],
  pmsuspended: ["unknown"],
  unknown: [],
};

export const DomainEventType = ["defined", "undefined", "started", "suspended", "resumed", "stopped", "shutdown",
  "pmsuspended", "crashed"] as const;
export type DomainEventTypeName = (typeof DomainEventType)[number] | "unknown";

/** Detail names per event type, indexed by libvirt's detail number (virDomainEvent*DetailType). */
export const DomainEventDetails: Record<DomainEventTypeName, readonly string[]> = {
  defined: ["added", "updated", "renamed", "from-snapshot"],
  undefined: ["removed", "renamed"],
  started: ["booted", "migrated", "restored", "from-snapshot", "wakeup"],
  suspended: ["paused", "migrated", "ioerror", "watchdog", "restored", "from-snapshot", "api-error", "postcopy",
    "postcopy-failed"],
  resumed: ["unpaused", "migrated", "from-snapshot", "postcopy", "postcopy-failed"],
  stopped: ["shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from-snapshot"],
  shutdown: ["finished", "guest", "host"],
  pmsuspended: ["memory", "disk"],
  crashed: ["panicked", "crashloaded"],
  unknown: [],
};

export const AgentLifecycleState = ["unknown", "connected", "disconnected"] as const;
export const AgentLifecycleReason = ["unknown", "domain-started", "channel"] as const;

export const ConnectListAllDomainsFlags = {
  ACTIVE: 1 << 0,
  INACTIVE: 1 << 1,
  PERSISTENT: 1 << 2,
  TRANSIENT: 1 << 3,
} as const;

export const DomainXmlFlags = {
  SECURE: 1 << 0,
  INACTIVE: 1 << 1,
  UPDATE_CPU: 1 << 2,
  MIGRATABLE: 1 << 3,
} as const;

export const DomainUndefineFlags = {
  MANAGED_SAVE: 1 << 0,
  SNAPSHOTS_METADATA: 1 << 1,
  NVRAM: 1 << 2,
  KEEP_NVRAM: 1 << 3,
  CHECKPOINTS_METADATA: 1 << 4,
} as const;

export const DomainShutdownFlags = {
  DEFAULT: 0,
  ACPI_POWER_BTN: 1 << 0,
  GUEST_AGENT: 1 << 1,
} as const;

export const DomainRebootFlags = DomainShutdownFlags;

export const DomainSnapshotCreateFlags = {
  REDEFINE: 1 << 0,
  CURRENT: 1 << 1,
  NO_METADATA: 1 << 2,
  HALT: 1 << 3,
  DISK_ONLY: 1 << 4,
  REUSE_EXT: 1 << 5,
  QUIESCE: 1 << 6,
  ATOMIC: 1 << 7,
  LIVE: 1 << 8,
  VALIDATE: 1 << 9,
} as const;

export const DomainSnapshotRevertFlags = {
  RUNNING: 1 << 0,
  PAUSED: 1 << 1,
  FORCE: 1 << 2,
} as const;

export const DomainSnapshotDeleteFlags = {
  CHILDREN: 1 << 0,
  METADATA_ONLY: 1 << 1,
  CHILDREN_ONLY: 1 << 2,
} as const;

/** virDomainBlockCommitFlags */
export const DomainBlockCommitFlags = {
  /** Commit only the top image into its immediate backing file (base = top's backing). */
  SHALLOW: 1 << 0,
  /** Delete the committed files once the job is done. */
  DELETE: 1 << 1,
  /** Top is the active image: the job stays "ready" until it is pivoted or aborted. */
  ACTIVE: 1 << 2,
  RELATIVE: 1 << 3,
  BANDWIDTH_BYTES: 1 << 4,
} as const;

/** virDomainBlockJobAbortFlags */
export const DomainBlockJobAbortFlags = {
  /** Return at once instead of waiting for the job to end. */
  ASYNC: 1 << 0,
  /** Switch the disk to the job's destination (the base, for an active commit). */
  PIVOT: 1 << 1,
} as const;

/** virDomainBlockJobType, by number. */
export const DomainBlockJobType = ["unknown", "pull", "copy", "commit", "active-commit", "backup"] as const;

/** VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_*: seconds, or one of these. */
export const AgentResponseTimeout = {
  BLOCK: -2,
  DEFAULT: -1,
  NOWAIT: 0,
} as const;
