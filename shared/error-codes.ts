/**
 * Every error code nightshift uses, in one place: what it means, what the
 * operator does about it, and the HTTP status the controller answers it with
 * where it is an answer of the API or of an upgrade request. The controller's
 * router takes the status from here (a route throws the error, never the
 * status); docs/errors.md is generated from this table (`npm run docs`), and
 * test/unit/shared/error-codes.test.ts fails when a code in the sources is
 * missing here, when an entry here is used nowhere, or when docs/errors.md is
 * out of date.
 *
 * Adding a code: one entry here, its throw site, its test, `npm run docs`.
 */

/** Sections of docs/errors.md, in order. */
export const ERROR_AREAS = {
  libvirt: "Libvirt and the guest agent (agent)",
  setup: "Configuration, start-up and the controller's store",
  http: "HTTP API and upgrade requests (controller)",
  hosts: "Hosts and inventory (API)",
  protocol: "Agent connections and protocol (controller)",
  agent: "Agent daemon",
  probes: "Probes and `nightshift-agent check`",
  runs: "Maintenance runs (API)",
  steps: "Maintenance steps: the agent's answers",
  calls: "Maintenance steps: the controller's wait for them",
  plans: "Maintenance windows and plans (API)",
  cli: "Operator CLI (`nightshift`)",
} as const;

export type ErrorArea = keyof typeof ERROR_AREAS;

export interface ErrorCodeInfo {
  area: ErrorArea;
  /** The HTTP status the controller answers with; only codes that are answers have one. */
  status?: number;
  /** What happened, for the operator reading a message, a log line or an evidence line. */
  meaning: string;
  /** What the operator does about it. */
  remedy: string;
}

export const ERROR_CODES = {
  // --- libvirt and the guest agent (agent/libvirt/) ---
  NS_ERR_LIBVIRT_SOCKET_MISSING: {
    area: "libvirt",
    meaning: "the libvirt socket does not exist",
    remedy: "start libvirtd, or pass `--uri ...?socket=` / `--socket`",
  },
  NS_ERR_LIBVIRT_ACCESS_DENIED: {
    area: "libvirt",
    meaning: "the socket refused us (file permissions), or the daemon wants polkit/SASL authentication",
    remedy: "run as root, or give the agent's user the socket group with `auth_unix_rw = \"none\"`",
  },
  NS_ERR_LIBVIRT_UNREACHABLE: {
    area: "libvirt",
    meaning: "the socket exists but no daemon accepts connections",
    remedy: "start libvirtd",
  },
  NS_ERR_LIBVIRT_URI: {
    area: "libvirt",
    meaning: "a URI the agent does not serve (remote transports)",
    remedy: "run the agent on that hypervisor",
  },
  NS_ERR_LIBVIRT: {
    area: "libvirt",
    meaning: "libvirt answered with an error; `libvirtCode`/`codeName` (e.g. `VIR_ERR_NO_DOMAIN`), `domainName` and libvirt's message are kept",
    remedy: "depends on libvirt's message",
  },
  NS_ERR_LIBVIRT_INTERRUPTED: {
    area: "libvirt",
    meaning: "the connection to libvirtd ended; every pending call fails with this at once",
    remedy: "retry after reconnecting (the agent reconnects by itself)",
  },
  NS_ERR_LIBVIRT_PROTOCOL: {
    area: "libvirt",
    meaning: "the daemon sent something undecodable",
    remedy: "report it with the libvirt version",
  },
  NS_ERR_GUEST_AGENT: {
    area: "libvirt",
    meaning: "the guest agent answered with an error",
    remedy: "see the agent's error class and description",
  },
  NS_ERR_GUEST_EXEC_TIMEOUT: {
    area: "libvirt",
    meaning: "a guest command outlived its timeout (its pid is in the error)",
    remedy: "raise the timeout or inspect the guest",
  },

  // --- configuration, start-up, the store ---
  NS_ERR_CONFIG: {
    area: "setup",
    meaning: "a configuration file or variable is unreadable or invalid; the key is named (on SIGHUP the running configuration stays)",
    remedy: "fix that key",
  },
  NS_ERR_LISTEN: {
    area: "setup",
    meaning: "the controller cannot listen on `listen` (address in use, ...)",
    remedy: "pick another address",
  },
  NS_ERR_STORE: {
    area: "setup",
    meaning: "the controller's database or data directory cannot be opened, secured or migrated (e.g. written by a newer version), or a write failed (sent to the agent as an `error`)",
    remedy: "see the message; agents resend what was not acked",
  },
  NS_ERR_DATA_DIR_LOCKED: {
    area: "setup",
    meaning: "another controller (its pid is named) holds the data directory; the second one does not start",
    remedy: "stop the other one, or give each its own `--data-dir`",
  },
  NS_ERR_FILE_MODE: {
    area: "setup",
    meaning: "a token file is readable or writable by others: the controller's `admin.token` stops its start; the agent's token file and the CLI's `tokenFile` are used, with a warning (agent log, CLI stderr)",
    remedy: "`chmod 600` it, and consider removing it so a new token is made (the old one may have been read)",
  },

  // --- HTTP API and upgrade requests (controller/http/, controller/hub/) ---
  NS_ERR_UNAUTHORIZED: {
    area: "http", status: 401,
    meaning: "API or agent token missing, unknown or revoked (also the CLI's error for a refused token)",
    remedy: "use the admin token / re-enroll the host",
  },
  NS_ERR_BAD_REQUEST: {
    area: "http", status: 400,
    meaning: "a query parameter or request body the API cannot use; the field is named",
    remedy: "as the message says",
  },
  NS_ERR_BAD_JSON: {
    area: "http", status: 400,
    meaning: "the request body is not valid JSON",
    remedy: "send a JSON body",
  },
  NS_ERR_TOO_LARGE: {
    area: "http", status: 413,
    meaning: "the request body is over 64 KiB",
    remedy: "send a smaller body",
  },
  NS_ERR_NOT_FOUND: {
    area: "http", status: 404,
    meaning: "no such endpoint (also an upgrade on another path than `/v1/agent`)",
    remedy: "check the URL; agents connect to `/v1/agent`",
  },
  NS_ERR_METHOD: {
    area: "http", status: 405,
    meaning: "the endpoint exists but not with this method (`Allow` lists the ones it has); an upgrade that is not a GET",
    remedy: "use one of the methods in `Allow`",
  },
  NS_ERR_BAD_PATH: {
    area: "http", status: 400,
    meaning: "a request target that is not a path (`*`, an unparsable absolute URL) or a path segment with malformed percent-encoding (`%E0%A4%A`), also on upgrades",
    remedy: "percent-encode names with `encodeURIComponent`",
  },
  NS_ERR_TOO_MANY_CONNECTIONS: {
    area: "http", status: 503,
    meaning: "the client's address already holds `http.maxConnectionsPerClient` connections, or the controller `http.maxConnections` (answered with `Retry-After`, the connection closed; over TLS it is closed without an answer)",
    remedy: "close idle connections or reuse them; raise the key if a proxy or NAT carries many clients",
  },
  NS_ERR_TOO_MANY_PIPELINED: {
    area: "http", status: 429,
    meaning: "more than `http.maxPipelinedRequests` requests sent on one connection ahead of their answers; the connection is closed after it",
    remedy: "read the answers before sending more, or use more connections",
  },
  NS_ERR_BAD_HTTP: {
    area: "http", status: 400,
    meaning: "a request Node's HTTP parser refused: not HTTP/1.1; the connection is closed",
    remedy: "send a valid HTTP/1.1 request",
  },
  NS_ERR_HEADERS_TOO_LARGE: {
    area: "http", status: 431,
    meaning: "request line and headers over 16 KiB; the connection is closed",
    remedy: "send a valid HTTP/1.1 request with smaller headers",
  },
  NS_ERR_REQUEST_TIMEOUT: {
    area: "http", status: 408,
    meaning: "the request was not complete in time; the connection is closed",
    remedy: "send the whole request at once",
  },
  NS_ERR_INTERNAL: {
    area: "http", status: 500,
    meaning: "a bug: the controller failed answering; the details are in its log",
    remedy: "report it with the controller's log line",
  },

  // --- hosts and inventory (API) ---
  NS_ERR_HOST_EXISTS: {
    area: "hosts", status: 409,
    meaning: "`hosts enroll` of a name that is already enrolled",
    remedy: "revoke it first (`nightshift hosts revoke NAME`), then enroll again",
  },
  NS_ERR_NO_HOST: {
    area: "hosts", status: 404,
    meaning: "no enrolled host of that name (an API path, `--host`, a machine or run naming it)",
    remedy: "see `nightshift hosts`",
  },
  NS_ERR_HOST_REVOKED: {
    area: "hosts", status: 409,
    meaning: "`hosts revoke` of a host that is already revoked",
    remedy: "none; enroll it again to issue a new token",
  },
  NS_ERR_NO_VM: {
    area: "hosts", status: 404,
    meaning: "no VM of that name (on that host) in the inventory",
    remedy: "see `nightshift vms`; name the VM as `HOST/VM`",
  },

  // --- agent connections and protocol (controller/hub/) ---
  NS_ERR_BAD_HANDSHAKE: {
    area: "protocol", status: 400,
    meaning: "an upgrade on `/v1/agent` that is not a valid WebSocket handshake (no `Upgrade: websocket`, missing or malformed `Sec-WebSocket-Key`, a version other than 13 or 8, a malformed `Sec-WebSocket-Protocol`); a method other than GET is 405 `NS_ERR_METHOD`",
    remedy: "use a WebSocket client",
  },
  NS_ERR_DUPLICATE_HOST: {
    area: "protocol", status: 409,
    meaning: "a second agent for a host that has a live one",
    remedy: "one agent per host token",
  },
  NS_ERR_TOO_MANY_SESSIONS: {
    area: "protocol", status: 429,
    meaning: "a host's agent opened `agents.maxSessions` sessions within `agents.maxSessionsInterval` (answered on the upgrade, with `Retry-After`); one `rejected` history row per `agents.rejectedEventInterval` counts the refusals",
    remedy: "find why its sessions end (agent log); it is let in again once its oldest session in the window is old enough",
  },
  NS_ERR_PROTOCOL_MALFORMED_JSON: {
    area: "protocol",
    meaning: "an agent frame that is not JSON, or not a JSON object",
    remedy: "fix or upgrade the agent",
  },
  NS_ERR_PROTOCOL_UNSUPPORTED_VERSION: {
    area: "protocol",
    meaning: "an agent message with a protocol version `v` other than 1",
    remedy: "run agent and controller of the same protocol version",
  },
  NS_ERR_PROTOCOL_UNKNOWN_TYPE: {
    area: "protocol",
    meaning: "an agent message of an unknown `type`",
    remedy: "fix or upgrade the agent",
  },
  NS_ERR_PROTOCOL_SCHEMA: {
    area: "protocol",
    meaning: "a field of an agent message is wrong (the message lists up to 5, with paths)",
    remedy: "fix or upgrade the agent",
  },
  NS_ERR_PROTOCOL_TOO_DEEP: {
    area: "protocol",
    meaning: "an agent frame with JSON nested deeper than 32 levels",
    remedy: "fix or upgrade the agent",
  },
  NS_ERR_PROTOCOL_TOO_MANY_ITEMS: {
    area: "protocol",
    meaning: "an agent frame with an array or object of more than 20,000 entries",
    remedy: "fix or upgrade the agent",
  },
  NS_ERR_PROTOCOL_TOO_MANY_ENTRIES: {
    area: "protocol",
    meaning: "a frame with more than 600,000 entries across all its arrays and objects, refused before it is parsed (an honest frame has at most ~586,000); the connection stays open",
    remedy: "fix or upgrade the sender",
  },
  NS_ERR_PROTOCOL_ORDER: {
    area: "protocol",
    meaning: "an agent message before `hello`",
    remedy: "fix or upgrade the agent",
  },
  NS_ERR_PROTOCOL_BINARY: {
    area: "protocol",
    meaning: "a binary WebSocket frame from an agent",
    remedy: "fix or upgrade the agent",
  },
  NS_ERR_PROTOCOL_TOO_LARGE: {
    area: "protocol",
    meaning: "an agent frame over 16 KiB before `hello`; the connection is closed (1009)",
    remedy: "fix or upgrade the agent",
  },
  NS_ERR_PROTOCOL_ITEM: {
    area: "protocol",
    meaning: "items of an agent's inventory, events batch or health report that the controller refused on their own; the rest was stored",
    remedy: "see the finding it opened (`NS_INVENTORY_VM_REFUSED`, `NS_HEALTH_ITEM_REFUSED`) or the `event-refused` entry; upgrade the agent",
  },
  NS_ERR_HOST_MISMATCH: {
    area: "protocol",
    meaning: "a `hello` naming another host than the token's; the connection is closed (4403)",
    remedy: "fix the agent's `host` setting or its token file",
  },

  // --- the agent daemon (agent/daemon/) ---
  NS_ERR_AGENT: {
    area: "agent",
    meaning: "the agent's reporting (spooling acks or events, an inventory) failed with an error that has no code of its own; logged, the agent carries on",
    remedy: "see the log line's message; report it if it repeats",
  },
  NS_ERR_AGENT_TOKEN: {
    area: "agent",
    meaning: "the agent's token file is missing, unreadable or empty",
    remedy: "write the token from `nightshift hosts enroll`",
  },
  NS_ERR_AGENT_STATE_DIR: {
    area: "agent",
    meaning: "the agent cannot create its state directory",
    remedy: "check the disk and permissions of `stateDir`",
  },
  NS_ERR_SPOOL_IO: {
    area: "agent",
    meaning: "the agent cannot read, append to or compact its spool (or its alive marker, or the downtime report)",
    remedy: "check the disk and permissions of `stateDir`",
  },
  NS_ERR_NETCONSOLE: {
    area: "agent",
    meaning: "the agent cannot point the host's kernel netconsole at the controller: no IPv4 route, no Ethernet next hop (no MAC in /proc/net/arp), or the options file cannot be written",
    remedy: "give the host an IPv4 Ethernet path to the controller (netconsole sends raw UDP frames on one NIC), or add `ReadWritePaths=-/etc/modprobe.d` back to the agent's unit; the agent log names the reason",
  },
  NS_ERR_SPOOL_OVERFLOW: {
    area: "agent",
    meaning: "the spool was full; the oldest events were dropped and reported (`events-lost`)",
    remedy: "raise `spool.maxEvents`, bring the controller back",
  },
  NS_ERR_SPOOL_CORRUPT: {
    area: "agent",
    meaning: "a spool line was unreadable and skipped",
    remedy: "none needed; the rest is delivered",
  },
  NS_ERR_CONTROLLER_REJECTED: {
    area: "agent",
    meaning: "the controller refused the agent's upgrade (401 token, 409 duplicate, 404 a URL without the `/v1/agent` path: the message gives the URL to set)",
    remedy: "as the message says",
  },
  NS_ERR_CONTROLLER_UNREACHABLE: {
    area: "agent",
    meaning: "agent or CLI cannot reach the controller (the URL is named, with the reason in words: connection refused, host not found, the server does not speak TLS there (use `ws://`/`http://`), a certificate from a private CA (`tls.caFile` / `NODE_EXTRA_CA_CERTS`))",
    remedy: "start it / fix the URL",
  },
  NS_ERR_CONTROLLER_DEAD: {
    area: "agent",
    meaning: "the controller stopped answering pings; the agent cut the connection and reconnects",
    remedy: "check the controller",
  },
  NS_ERR_CONTROLLER_PROTOCOL: {
    area: "agent",
    meaning: "the controller sent an `error`, an unusable frame, or no `welcome` in time",
    remedy: "see the message",
  },
  NS_ERR_CONTROLLER_WELCOME_BOUNDS: {
    area: "agent",
    meaning: "the controller's welcome asked for an inventory interval outside 1 s–1 d or a heartbeat outside 1–60 s; the agent used the nearest bound (a warning in its log)",
    remedy: "set the controller's `agents.inventoryInterval` / `agents.heartbeat` within the bounds; a controller that allows no such value is not ours: suspect it",
  },
  NS_ERR_SYSTEMD_NOTIFY: {
    area: "agent",
    meaning: "`NOTIFY_SOCKET` is set but `systemd-notify` is missing or failed",
    remedy: "install systemd's `systemd-notify`",
  },

  // --- probes and `nightshift-agent check` (agent/probes/, agent/cli/check.ts) ---
  NS_ERR_FSTAB_UNREADABLE: {
    area: "probes",
    meaning: "the fstab probe cannot read fstab, or it is not a regular file (a directory, a FIFO) (the probe is `failed`, its findings stay open)",
    remedy: "check permissions and the path",
  },
  NS_ERR_BLKID: {
    area: "probes",
    meaning: "blkid, which the fstab probe runs, is unavailable, failed or timed out",
    remedy: "see the detail in the probe's run",
  },
  NS_ERR_PROBE_COMMAND: {
    area: "probes",
    meaning: "a command a probe runs (getent, systemctl, journalctl, ...) could not start, failed or timed out",
    remedy: "see the detail in the probe's run",
  },
  NS_ERR_CHECK_PROBE: {
    area: "probes",
    meaning: "`check --probe` named an unknown probe (exit 125)",
    remedy: "use one of the probes the message lists",
  },
  NS_ERR_CHECK_PATH: {
    area: "probes",
    meaning: "`check` got a `--root` or `--fstab` that does not exist (exit 125)",
    remedy: "fix the argument",
  },

  // --- maintenance runs (controller/runs/, API) ---
  NS_ERR_RUN_SPEC: {
    area: "runs", status: 400,
    meaning: "run options or a runbook the CLI (exit 2) or the API cannot use: every problem is named with its path or FILE:LINE; a VM listed twice",
    remedy: "fix the spec (`nightshift run start --help`)",
  },
  NS_ERR_VM_AMBIGUOUS: {
    area: "runs", status: 409,
    meaning: "a VM name that is on several hosts",
    remedy: "name the VM as `HOST/VM`",
  },
  NS_ERR_VM_IN_RUN: {
    area: "runs", status: 409,
    meaning: "a VM of the run is in another active run",
    remedy: "wait for or abort the other run",
  },
  NS_ERR_NO_RUN: {
    area: "runs", status: 404,
    meaning: "no run with that id",
    remedy: "see `nightshift runs`",
  },
  NS_ERR_SNAPSHOT_MODE: {
    area: "runs", status: 400,
    meaning: "`snapshots delete` of a disk-only snapshot without `--merge`/`--discard`, or `--discard` of an internal one",
    remedy: "choose: `--merge` keeps the VM's current state, `--discard` goes back to the snapshot",
  },
  NS_ERR_NO_SNAPSHOT: {
    area: "runs", status: 404,
    meaning: "`snapshots delete`: no such snapshot in nightshift's records for that VM (an operator's own is deleted with virsh)",
    remedy: "check `nightshift snapshots --all`",
  },
  NS_ERR_SNAPSHOT_DELETED: {
    area: "runs", status: 409,
    meaning: "`snapshots delete`: the snapshot was deleted already (the message says when and why)",
    remedy: "none; check `nightshift snapshots --all`",
  },
  NS_ERR_SNAPSHOT_BUSY: {
    area: "runs", status: 409,
    meaning: "`snapshots delete`: the snapshot is being deleted right now by retention or another request",
    remedy: "wait, then check `nightshift snapshots --all`",
  },
  NS_ERR_AGENT_NOT_CONNECTED: {
    area: "runs", status: 409,
    meaning: "`snapshots delete` while the host's agent is not connected; nothing was asked",
    remedy: "bring the agent back (`nightshift hosts`), then repeat",
  },
  NS_ERR_VM_NOT_NEEDS_ATTENTION: {
    area: "runs", status: 409,
    meaning: "`vm resolve` of a VM that does not need attention: no run left it so since it last ended well or was resolved",
    remedy: "none",
  },
  NS_ERR_HOST_DISCONNECTED: {
    area: "runs", status: 409,
    meaning: "a run's VM is on a host with no connected agent: its steps would wait `runs.agentLostTimeout` and change nothing; a plan slot on such a host fails `not-started`",
    remedy: "bring the agent back, or `run start --wait-for-agent` (API `\"waitForAgent\": true`): the run then starts with a WARN line and its steps wait for the agent",
  },

  // --- maintenance steps: codes the agent answers a step with (shared/protocol/steps.ts StepErrorCodes) ---
  NS_ERR_STEP_UNKNOWN: {
    area: "steps", status: 409,
    meaning: "the agent was asked to resume a step it does not know (it restarted): a repeatable step is sent again, any other fails with `NS_ERR_STEP_OUTCOME_UNKNOWN`",
    remedy: "none; it is handled",
  },
  NS_ERR_STEP_NOT_ALLOWED: {
    area: "steps", status: 409,
    meaning: "the agent's config does not list a run's guest command or hook",
    remedy: "add it to `maintenance.guestCommands` / `maintenance.hooks`",
  },
  NS_ERR_STEP_NO_VM: {
    area: "steps", status: 409,
    meaning: "the step's VM is not defined on the agent's host",
    remedy: "check the VM with `virsh list --all` on that host",
  },
  NS_ERR_STEP_GUEST_AGENT: {
    area: "steps", status: 409,
    meaning: "the guest agent answered with an error, did not answer, or the VM is not running",
    remedy: "check that qemu-guest-agent runs in the guest and that the domain has the `org.qemu.guest_agent.0` channel",
  },
  NS_ERR_STEP_TIMEOUT: {
    area: "steps", status: 409,
    meaning: "the agent's own time limit for an operation ran out: a guest command or hook still running (it may still run in the guest), no reboot seen, the guest agent silent after a start, reboot or revert, a block commit without progress, a TCP check without a connection",
    remedy: "see the evidence line; inspect the guest, or give the step more time (the run's `--patch-timeout`, or the controller's `runs.*Timeout` keys)",
  },
  NS_ERR_STEP_LIBVIRT: {
    area: "steps", status: 409,
    meaning: "libvirt failed the step, or the agent has no libvirt connection at the moment",
    remedy: "see the line's output; the agent reconnects to libvirtd by itself",
  },
  NS_ERR_STEP_FAILED: {
    area: "steps", status: 409,
    meaning: "the step failed on the agent for any other reason (also a step handler's bug, logged by the agent)",
    remedy: "see the line's output",
  },
  NS_ERR_STEP_SNAPSHOT_NOT_OURS: {
    area: "steps", status: 409,
    meaning: "a snapshot step named a snapshot that is not nightshift's (not named `nightshift-<run id>-<vm>` for that VM, or without the agent's marker in its description: an operator's, or one taken by an agent older than the marker); it was not touched, and the agent creates no snapshot under such a name",
    remedy: "none for an operator's snapshot; delete an old nightshift one with `virsh snapshot-delete`",
  },
  NS_ERR_STEP_BAD_VM_NAME: {
    area: "steps", status: 409,
    meaning: "a hook step's VM name is not of the strict shape a hook may be given; the hook did not run",
    remedy: "name the VM with letters, digits, `.`, `_`, `-`",
  },
  NS_ERR_STEP_BAD_RUN_ID: {
    area: "steps", status: 409,
    meaning: "a hook step's run id is not of the strict shape a hook may be given; the hook did not run",
    remedy: "none; a run id comes from the controller only",
  },
  NS_ERR_STEP_DISK_NOT_WRITABLE: {
    area: "steps", status: 409,
    meaning: "a disk-only snapshot (its pre-check, or a revert, merge or discard) needs the agent to write an image directory or image it cannot write: a read-only mount for the agent, typically its unit's `ProtectSystem=strict` without that directory in `ReadWritePaths=`; refused before any change (the run skips the VM; a refused rollback leaves it on its overlay, needing attention)",
    remedy: "`systemctl edit nightshift-agent`: `[Service]` `ReadWritePaths=DIR` (the directory is named), `systemctl restart nightshift-agent`",
  },
  NS_ERR_STEP_VM_NOT_SHUT_OFF: {
    area: "steps", status: 409,
    meaning: "`snapshots delete --discard` of a VM that is not shut off; nothing changed",
    remedy: "`virsh shutdown VM` (or `virsh destroy VM`) first, or `--merge` to keep its state",
  },
  NS_ERR_STEP_NOT_DISK_ONLY: {
    area: "steps", status: 409,
    meaning: "the agent was asked to discard an internal snapshot; nothing changed",
    remedy: "delete it without `--discard`; going back to it is `virsh snapshot-revert`",
  },
  NS_ERR_STEP_BUSY: {
    area: "steps", status: 409,
    meaning: "the agent already had `maintenance.maxRunningSteps` steps running and `maintenance.maxQueuedSteps` waiting; this step was not started and nothing ran",
    remedy: "find what sends that many steps to the host; raise the two keys only for an honest load",
  },

  // --- maintenance steps: the controller's side of a step (controller/hub/agent-calls.ts) ---
  NS_ERR_STEP_NO_ANSWER: {
    area: "calls", status: 504,
    meaning: "the controller sent a step to a connected agent and got no `step-result` within the step's time limit (plus a margin, so the agent's own `NS_ERR_STEP_TIMEOUT` comes first); the step may still be running there",
    remedy: "check the agent's log and load on that host, then the VM",
  },
  NS_ERR_STEP_RESULT: {
    area: "calls",
    meaning: "an agent answered a step with a result this controller cannot read (an agent of another version); the step failed",
    remedy: "run agent and controller of the same version",
  },
  NS_ERR_STEP_OUTCOME_UNKNOWN: {
    area: "calls",
    meaning: "a patch was interrupted and its agent restarted; the VM is rolled back",
    remedy: "none; it is handled",
  },
  NS_ERR_AGENT_LOST: {
    area: "calls", status: 504,
    meaning: "a step's agent stayed disconnected longer than `runs.agentLostTimeout`; the VM needs attention",
    remedy: "check the host, then the VM",
  },

  // --- maintenance windows and plans (controller/planning/, API) ---
  NS_ERR_WAVE_SPEC: {
    area: "plans", status: 400,
    meaning: "a wave spec the CLI (exit 2) or the API cannot use (e.g. waves out of order); every problem is named with its path or FILE:LINE",
    remedy: "fix the spec (`nightshift plan week --help`)",
  },
  NS_ERR_NO_WINDOWS: {
    area: "plans", status: 404,
    meaning: "the group has no maintenance windows",
    remedy: "see `nightshift windows`",
  },
  NS_ERR_NO_MACHINE: {
    area: "plans", status: 404,
    meaning: "no machine of that name is registered for planning",
    remedy: "see `nightshift machines`",
  },
  NS_ERR_MACHINE_AMBIGUOUS: {
    area: "plans", status: 409,
    meaning: "a name several machines have",
    remedy: "name the machine as `HOST/VM`, or pass `--host`/`--vm`",
  },
  NS_ERR_MACHINE_NOT_CLI: {
    area: "plans", status: 409,
    meaning: "`machines delete` of a machine in scope through its domain metadata or its agent's config",
    remedy: "remove the `<maintenance>` element from the VM's XML, or `maintenance.group` from the agent's config",
  },
  NS_ERR_NO_GROUP: {
    area: "plans", status: 404,
    meaning: "a group with no windows, machines or slots (`plan export --ics`)",
    remedy: "check the group's name",
  },
  NS_ERR_NO_PLAN: {
    area: "plans", status: 404,
    meaning: "there is no current plan, or no plan with that id",
    remedy: "make one with `nightshift plan week --spec FILE`",
  },
  NS_ERR_PLAN_ACTIVE: {
    area: "plans", status: 409,
    meaning: "a plan has started; a new one would overlap it",
    remedy: "`nightshift plan cancel` first",
  },
  NS_ERR_PLAN_BLOCKED: {
    area: "plans", status: 409,
    meaning: "`plan resume` while a VM of the plan still needs attention",
    remedy: "repair the VM and run it again, then resume",
  },

  // --- the operator CLI (cli/) ---
  NS_ERR_CLI_SETTINGS: {
    area: "cli",
    meaning: "the CLI found no URL/token, or its config file is invalid; every source tried is listed",
    remedy: "pass `--url/--token` or set them",
  },
  NS_ERR_CONTROLLER_RESPONSE: {
    area: "cli",
    meaning: "the CLI's URL does not answer like a nightshift controller (not JSON, no error body), or answered an error code this CLI does not know (the controller's code is in the message)",
    remedy: "fix `--url`; for an unknown code, use a CLI of the controller's version",
  },
  NS_ERR_USAGE: {
    area: "cli",
    meaning: "flags the CLI cannot use, found before anything is sent (exit 2)",
    remedy: "fix the flags (`--help`)",
  },
  NS_ERR_RUNBOOK: {
    area: "cli",
    meaning: "a runbook file that cannot be read or is not a YAML mapping (exit 2)",
    remedy: "fix the file",
  },
  NS_ERR_PLAN_FILE: {
    area: "cli",
    meaning: "a plan file that cannot be read or is not a YAML mapping (exit 2)",
    remedy: "fix the file",
  },
  NS_ERR_WINDOWS_SPEC: {
    area: "cli",
    meaning: "windows flags or a windows file the CLI cannot use; every problem is named with its flag or FILE:LINE (exit 2)",
    remedy: "fix the file/flags (`nightshift windows set --help`)",
  },
  NS_ERR_WINDOWS_FILE: {
    area: "cli",
    meaning: "a windows file that cannot be read or is not a YAML mapping (exit 2)",
    remedy: "fix the file",
  },
  NS_ERR_MACHINE_SPEC: {
    area: "cli",
    meaning: "`machines set` flags the CLI cannot use; every bad flag is named (exit 2)",
    remedy: "fix the flags (`nightshift machines set --help`)",
  },
  NS_ERR_RUN_NOT_SUCCEEDED: {
    area: "cli",
    meaning: "`run start --wait`: not every VM succeeded (exit 1)",
    remedy: "see `nightshift run show ID`",
  },
  NS_ERR_PLAN_INCOMPLETE: {
    area: "cli",
    meaning: "`nightshift plan check`: a machine in scope has no slot, or several (exit 1)",
    remedy: "see the listed reasons; widen windows, add capacity, or re-plan",
  },
  NS_ERR_OUTPUT: {
    area: "cli",
    meaning: "`plan export --output FILE` cannot write FILE",
    remedy: "check the path and its directory's permissions",
  },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes the controller answers HTTP requests (and refused upgrades) with: those with a status. */
export type HttpErrorCode = { [K in ErrorCode]: (typeof ERROR_CODES)[K] extends { readonly status: number } ? K : never }[ErrorCode];

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CODES, value);
}

export function isHttpErrorCode(code: ErrorCode): code is HttpErrorCode {
  return "status" in ERROR_CODES[code];
}

/** The HTTP status a code is answered with. */
export function httpStatus(code: HttpErrorCode): number {
  return (ERROR_CODES[code] as { readonly status: number }).status;
}
