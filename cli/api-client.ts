/**
 * The controller's JSON API over fetch. Every failure becomes a
 * NightshiftError that says what to do: an unreachable controller names the
 * URL, a refused token says where a valid one comes from, and any other HTTP
 * error carries the server's own code and message.
 */
import { describeConnectFailure } from "../shared/connect-errors.js";
import { NightshiftError } from "../shared/errors.js";
import type {
  EnrolledHostRecord, EventRecord, ExpectedStopRecord, FindingRecord, HostRecord, RevokedHostRecord, StatusRecord, VmRecord, ConsoleLineRecord } from "../shared/api.js";
import type {
  EvidenceRecord, RunDetail, RunPlan, RunRecord, RunSpecInput, SnapshotDeleteBody, SnapshotDeleteRecord, SnapshotRecord, StartRunRequest,
  VmResolutionRecord, VmResolveBody,
} from "../shared/runs.js";
import { isErrorCode, type ErrorCode } from "../shared/error-codes.js";
import type {
  MachineBody, MachineRecord, PlanCheckRecord, PlanRecord, PlanRequest, WindowsBody, WindowsRecord,
} from "../shared/plans.js";

export const DEFAULT_TIMEOUT_MS = 30_000;

/** The controller could not be reached (refused, unknown host, TLS failure, timeout). */
export class ControllerUnreachableError extends NightshiftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("NS_ERR_CONTROLLER_UNREACHABLE", message, options);
  }
}

/** HTTP 401: the token is missing, wrong or revoked. */
export class ControllerAuthError extends NightshiftError {
  constructor(message: string) {
    super("NS_ERR_UNAUTHORIZED", message);
  }
}

/** Any other error answer; `code` is the server's (NS_ERR_HOST_EXISTS, NS_ERR_NO_HOST, ...). */
export class ControllerApiError extends NightshiftError {
  constructor(readonly status: number, code: ErrorCode, message: string) {
    super(code, message);
  }
}

/** The server answered something that is not the nightshift API (HTML from a proxy, another service). */
export class ControllerResponseError extends NightshiftError {
  constructor(message: string) {
    super("NS_ERR_CONTROLLER_RESPONSE", message);
  }
}

export interface ApiClientOptions {
  /** Base URL without trailing slash; may include a path prefix (behind a reverse proxy). */
  url: string;
  token: string;
  /** Where the token came from, named when the controller refuses it. */
  tokenSource?: string;
  timeoutMs?: number;
}

export type Query = Record<string, string | number | undefined>;

export interface FindingsQuery {
  host?: string | undefined;
  severity?: string | undefined;
  resolved?: boolean | undefined;
  /** Findings per page (the controller answers 1000 without one, at most 10000). */
  limit?: number | undefined;
  /** The cursor of the page to get (FindingsPage.after of the page before). */
  after?: string | undefined;
}

/** One page of GET /v1/findings. */
export interface FindingsPage {
  findings: FindingRecord[];
  /** How many match on every page; null from a controller that does not page. */
  total: number | null;
  /** The next page's cursor; null on the last page. */
  after: string | null;
}


export interface EventsQuery {
  host?: string | undefined;
  vm?: string | undefined;
  since?: string | undefined;
  limit?: number | undefined;
}

function describeFetchFailure(err: unknown, url: string): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const detail = cause?.message?.split("\n")[0]?.trim();
  if (detail === "bad port") return `fetch refuses port ${new URL(url).port} (a blocked port); let the controller listen on another`;
  if (!cause?.code && !detail) return (err as Error).message ?? String(err);
  return describeConnectFailure(cause?.code, detail, { plainScheme: "http", caHint: "set NODE_EXTRA_CA_CERTS to that CA's PEM file" });
}

export class ApiClient {
  readonly url: string;
  private readonly token: string;
  private readonly tokenSource: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: ApiClientOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.token = options.token;
    this.tokenSource = options.tokenSource;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  listHosts(): Promise<HostRecord[]> {
    return this.request("GET", "/v1/hosts");
  }

  enrollHost(name: string): Promise<EnrolledHostRecord> {
    return this.request("POST", "/v1/hosts", { body: { name } });
  }

  revokeHost(name: string): Promise<RevokedHostRecord> {
    return this.request("POST", `/v1/hosts/${encodeURIComponent(name)}/revoke`);
  }

  hostConsole(name: string): Promise<ConsoleLineRecord[]> {
    return this.request("GET", `/v1/hosts/${encodeURIComponent(name)}/console`);
  }

  listVms(host?: string): Promise<VmRecord[]> {
    return this.request("GET", "/v1/vms", { query: { host } });
  }

  listEvents(query: EventsQuery = {}): Promise<EventRecord[]> {
    return this.request("GET", "/v1/events", { query: { ...query } });
  }

  /** One page; `after` (from the page's `Link: <...>; rel="next"`) is where the next one starts. */
  async findingsPage(query: FindingsQuery = {}): Promise<FindingsPage> {
    const { body, headers } = await this.requestWithHeaders<FindingRecord[]>("GET", "/v1/findings", {
      query: { host: query.host, severity: query.severity, resolved: query.resolved ? "true" : undefined, limit: query.limit, after: query.after },
    });
    const next = /<([^>]*)>\s*;\s*rel="next"/.exec(headers.get("link") ?? "")?.[1];
    const total = Number(headers.get("x-total-count") ?? NaN);
    return {
      findings: body, total: Number.isSafeInteger(total) ? total : null,
      // Only the cursor is taken from the link: behind a proxy its path may not be the one this client uses.
      after: next === undefined ? null : new URLSearchParams(next.split("?")[1] ?? "").get("after"),
    };
  }

  expectStop(vm: string, body: { host: string; reason: string; forSeconds?: number }): Promise<ExpectedStopRecord> {
    return this.request("POST", `/v1/vms/${encodeURIComponent(vm)}/expect-stop`, { body });
  }

  status(): Promise<StatusRecord> {
    return this.request("GET", "/v1/status");
  }

  /** POST /v1/runs: starts a run (201 {run}). */
  async startRun(spec: RunSpecInput, options: { waitForAgent?: boolean } = {}): Promise<RunDetail> {
    const body: StartRunRequest = { spec, ...(options.waitForAgent ? { waitForAgent: true } : {}) };
    const answer = await this.request<{ run?: RunDetail }>("POST", "/v1/runs", { body });
    return this.unwrap(answer, "run", "POST /v1/runs");
  }

  /** POST /v1/runs with dryRun: what the run would do, nothing started (200 {plan}). */
  async planRun(spec: RunSpecInput): Promise<RunPlan> {
    const answer = await this.request<{ plan?: RunPlan }>("POST", "/v1/runs", { body: { spec, dryRun: true } satisfies StartRunRequest });
    return this.unwrap(answer, "plan", "POST /v1/runs (dry run)");
  }

  listRuns(limit?: number): Promise<RunRecord[]> {
    return this.request("GET", "/v1/runs", { query: { limit } });
  }

  getRun(id: string): Promise<RunDetail> {
    return this.request("GET", `/v1/runs/${encodeURIComponent(id)}`);
  }

  /** Evidence in seq order; with `after`, only the records after that seq. */
  runEvidence(id: string, after?: number): Promise<EvidenceRecord[]> {
    return this.request("GET", `/v1/runs/${encodeURIComponent(id)}/evidence`, { query: { after } });
  }

  abortRun(id: string): Promise<RunRecord> {
    return this.request("POST", `/v1/runs/${encodeURIComponent(id)}/abort`);
  }

  /** Snapshots nightshift took and has not deleted yet; with `all`, the deleted ones too. */
  listSnapshots(all = false): Promise<SnapshotRecord[]> {
    return this.request("GET", "/v1/snapshots", { query: { all: all ? 1 : undefined } });
  }

  /** DELETE /v1/snapshots/HOST/VM/NAME: deletes (merges, discards) a snapshot a run took, through its host's agent. */
  deleteSnapshot(host: string, vm: string, name: string, body: SnapshotDeleteBody): Promise<SnapshotDeleteRecord> {
    const path = [host, vm, name].map(encodeURIComponent).join("/");
    return this.request("DELETE", `/v1/snapshots/${path}`, { body });
  }

  /** POST /v1/vms/ID/resolve (ID: HOST/VM, or a VM name one host has): the VM no longer needs attention. */
  resolveVm(id: string, body: VmResolveBody): Promise<VmResolutionRecord> {
    return this.request("POST", `/v1/vms/${encodeURIComponent(id)}/resolve`, { body });
  }

  /** GET /v1/windows: every group's maintenance preference with its next window. */
  listWindows(): Promise<WindowsRecord[]> {
    return this.request("GET", "/v1/windows");
  }

  /** PUT /v1/windows/GROUP: sets (replaces) a group's preference. */
  setWindows(group: string, body: WindowsBody): Promise<WindowsRecord> {
    return this.request("PUT", `/v1/windows/${encodeURIComponent(group)}`, { body });
  }

  /** DELETE /v1/windows/GROUP: answers the deleted preference. */
  deleteWindows(group: string): Promise<WindowsRecord> {
    return this.request("DELETE", `/v1/windows/${encodeURIComponent(group)}`);
  }

  /** GET /v1/machines: what the planner knows about VMs and hosts besides the inventory. */
  listMachines(): Promise<MachineRecord[]> {
    return this.request("GET", "/v1/machines");
  }

  /** PUT /v1/machines/NAME: sets (replaces) a machine's group, roles and the rest. */
  setMachine(name: string, body: MachineBody): Promise<MachineRecord> {
    return this.request("PUT", `/v1/machines/${encodeURIComponent(name)}`, { body });
  }

  /** DELETE /v1/machines/NAME (an id such as HOST/VM, or a name only one machine has; `kind` picks vm or host): answers the deleted record. */
  deleteMachine(name: string, kind?: "vm" | "host"): Promise<MachineRecord> {
    return this.request("DELETE", `/v1/machines/${encodeURIComponent(name)}`, { query: { kind } });
  }

  /** POST /v1/plans: builds a plan from a wave spec (stored, or with dryRun only shown). */
  createPlan(request: PlanRequest): Promise<PlanRecord> {
    return this.request("POST", "/v1/plans", { body: request });
  }

  currentPlan(): Promise<PlanRecord> {
    return this.request("GET", "/v1/plans/current");
  }

  /** GET /v1/plans/ID: any stored plan, also a cancelled or replaced one. */
  getPlan(id: string): Promise<PlanRecord> {
    return this.request("GET", `/v1/plans/${encodeURIComponent(id)}`);
  }

  /** GET /v1/plans/current/check: every in-scope machine without exactly one slot (empty when complete). */
  checkPlan(): Promise<PlanCheckRecord[]> {
    return this.request("GET", "/v1/plans/current/check");
  }

  /** POST /v1/plans/current/pause, resume or cancel. */
  planAction(action: "pause" | "resume" | "cancel"): Promise<PlanRecord> {
    return this.request("POST", `/v1/plans/current/${action}`);
  }

  /** GET /v1/plans/current/ics?group=G: the group's slots as an iCalendar file. */
  planCalendar(group: string): Promise<string> {
    return this.requestText("GET", "/v1/plans/current/ics", { query: { group } }, "text/calendar");
  }

  private unwrap<K extends string, T>(answer: { [key in K]?: T } | undefined, key: K, what: string): T {
    const value = answer?.[key];
    if (value === undefined || value === null || typeof value !== "object") {
      throw new ControllerResponseError(`${what} at ${this.url} answered without "${key}": is the controller older than this CLI?`);
    }
    return value as T;
  }

  /** One API call; resolves to the parsed JSON body of a 2xx answer. */
  async request<T>(method: string, pathname: string, options: { query?: Query; body?: unknown } = {}): Promise<T> {
    const { res, text, target } = await this.send(method, pathname, options, "application/json");
    const body = this.parseJson(method, target, res, text);
    if (res.ok) return body as T;
    throw this.errorFor(method, target, res, body);
  }

  /** request(), with the answer's headers (a listing's paging). */
  async requestWithHeaders<T>(method: string, pathname: string, options: { query?: Query; body?: unknown } = {}): Promise<{ body: T; headers: Headers }> {
    const { res, text, target } = await this.send(method, pathname, options, "application/json");
    const body = this.parseJson(method, target, res, text);
    if (res.ok) return { body: body as T, headers: res.headers };
    throw this.errorFor(method, target, res, body);
  }

  /** One API call whose 2xx answer is text (a calendar); errors are the API's JSON errors as for request(). */
  async requestText(method: string, pathname: string, options: { query?: Query; body?: unknown } = {}, accept = "text/plain"): Promise<string> {
    const { res, text, target } = await this.send(method, pathname, options, `${accept}, application/json`);
    if (res.ok) return text;
    throw this.errorFor(method, target, res, this.parseJson(method, target, res, text));
  }

  private async send(method: string, pathname: string, options: { query?: Query; body?: unknown }, accept: string):
    Promise<{ res: Response; text: string; target: URL }> {
    const target = new URL(this.url + pathname);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== "") target.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}`, Accept: accept };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";

    try {
      const res = await fetch(target, {
        method, headers, signal: AbortSignal.timeout(this.timeoutMs),
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      });
      return { res, text: await res.text(), target };
    } catch (err) {
      if ((err as Error).name === "TimeoutError") {
        throw new ControllerUnreachableError(`the controller at ${this.url} did not answer within ${this.timeoutMs / 1000} s`, { cause: err });
      }
      throw new ControllerUnreachableError(`cannot reach the controller at ${this.url}: ${describeFetchFailure(err, this.url)}`, { cause: err });
    }
  }

  private parseJson(method: string, target: URL, res: Response, text: string): unknown {
    try {
      return text === "" ? undefined : JSON.parse(text);
    } catch {
      throw new ControllerResponseError(`${method} ${target.pathname} at ${this.url} answered HTTP ${res.status} with ` +
        `${res.headers.get("content-type") ?? "no content type"}, not JSON: is ${this.url} a nightshift controller?`);
    }
  }

  private errorFor(method: string, target: URL, res: Response, body: unknown): NightshiftError {
    const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const code = typeof error?.code === "string" ? error.code : null;
    const message = typeof error?.message === "string" ? error.message : null;
    if (res.status === 401) {
      return new ControllerAuthError(`the controller at ${this.url} refused the API token` +
        (this.tokenSource ? ` from ${this.tokenSource}` : "") +
        ": use the admin token from the controller's data directory (DATA_DIR/admin.token, " +
        "/var/lib/nightshift/admin.token by default) via --token, NIGHTSHIFT_TOKEN or tokenFile in cli.yaml");
    }
    if (code && message && isErrorCode(code)) return new ControllerApiError(res.status, code, message);
    if (code && message) {
      // A controller newer than this CLI: its code is kept in the message, for its own docs/errors.md.
      return new ControllerResponseError(`${method} ${target.pathname} at ${this.url} answered HTTP ${res.status} ${code}, ` +
        `a code this CLI does not know (is the controller newer?): ${message}`);
    }
    return new ControllerResponseError(`${method} ${target.pathname} at ${this.url} answered HTTP ${res.status} ` +
      `without a nightshift error body: is ${this.url} a nightshift controller?`);
  }
}
