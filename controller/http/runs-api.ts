/**
 * The maintenance-run API: start (or dry-run), list, show, evidence, abort,
 * the snapshots runs took and their deletion by the operator, and resolving a
 * VM that needs attention (../runs/recovery.ts). Shapes are shared/runs.ts,
 * the CLI's --json.
 */
import { z } from "zod";
import { ApiError, Created, type Router } from "./router.js";
import type { Store } from "../store/index.js";
import type { RunEngine } from "../runs/engine.js";
import { evidenceRecord, runRecord, snapshotRecord } from "../runs/records.js";
import { resolveVm, type SnapshotDeleter } from "../runs/recovery.js";
import { bearerToken } from "../tokens.js";

export interface RunsApiDeps {
  store: Store;
  engine: RunEngine;
  deleter: SnapshotDeleter;
}

const text = (max: number) => z.string().trim().min(1).max(max);
const DeleteSnapshotBody = z.object({ mode: z.enum(["merge", "discard"]).optional(), reason: text(1000).optional(), by: text(200).optional() })
  .strict();
const ResolveBody = z.object({ reason: text(1000), by: text(200).optional() }).strict();

function badBody(issues: z.core.$ZodIssue[], expected: string): ApiError {
  return new ApiError("NS_ERR_BAD_REQUEST", `${issues.slice(0, 5).map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ")}; ` +
    `expected ${expected}`);
}

const StartBody = z.object({ spec: z.unknown(), dryRun: z.boolean().optional(), waitForAgent: z.boolean().optional() });

function positiveInt(text: string | null, name: string, fallback: number, min = 1): number {
  if (text === null) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new ApiError("NS_ERR_BAD_REQUEST", `${name}=${text}: expected an integer of at least ${min}`);
  return n;
}

export function registerRunsApi(router: Router, { store, engine, deleter }: RunsApiDeps): void {
  /** Who asks: the client's own word (the CLI sends user@host), and the API token's name, which the client cannot choose. */
  const requester = (authorization: string | undefined, by: string | undefined): string => {
    const token = bearerToken(authorization);
    const name = token ? store.apiTokens.verify(token) : null;
    const holder = `API token ${name ?? "?"}`;
    return by ? `${by} (${holder})` : holder;
  };

  router.add("POST", "/v1/runs", ({ body }) => {
    const parsed = StartBody.safeParse(body);
    if (!parsed.success) throw new ApiError("NS_ERR_BAD_REQUEST", "expected a JSON body {\"spec\": {...}, \"dryRun\": false}");
    // A RunRequestError is answered with its code's status (api-error.ts).
    const result = engine.start(parsed.data.spec, parsed.data.dryRun ?? false, { waitForAgent: parsed.data.waitForAgent ?? false });
    return "run" in result ? new Created(result) : result;
  });

  router.add("GET", "/v1/runs", ({ url }) => {
    const limit = positiveInt(url.searchParams.get("limit"), "limit", 50);
    return store.runs.listRuns(limit).map((r) => runRecord(r, store.runs.vms(r.id)));
  });

  router.add("GET", "/v1/runs/:id", ({ params }) => {
    const detail = engine.detail(params.id!);
    if (!detail) throw new ApiError("NS_ERR_NO_RUN", `no run with id '${params.id}' (see nightshift runs)`);
    return detail;
  });

  router.add("GET", "/v1/runs/:id/evidence", ({ params, url }) => {
    if (!store.runs.getRun(params.id!)) throw new ApiError("NS_ERR_NO_RUN", `no run with id '${params.id}' (see nightshift runs)`);
    const after = positiveInt(url.searchParams.get("after"), "after", 0, 0);
    return store.runs.evidence(params.id!, after).map(evidenceRecord);
  });

  router.add("POST", "/v1/runs/:id/abort", ({ params }) => {
    if (!engine.abort(params.id!)) throw new ApiError("NS_ERR_NO_RUN", `no run with id '${params.id}' (see nightshift runs)`);
    const run = store.runs.getRun(params.id!)!;
    return runRecord(run, store.runs.vms(run.id));
  });

  router.add("GET", "/v1/snapshots", ({ url }) => {
    const all = ["1", "true", "yes"].includes(url.searchParams.get("all") ?? "");
    return store.runs.snapshots(all).map(snapshotRecord);
  });

  router.add("DELETE", "/v1/snapshots/:host/:vm/:name", async ({ params, body, req }) => {
    const parsed = DeleteSnapshotBody.safeParse(body ?? {});
    if (!parsed.success) throw badBody(parsed.error.issues, '{"mode": "merge"|"discard" (disk-only snapshots), "reason": "...", "by": "..."}, all optional');
    const { mode, reason, by } = parsed.data;
    return deleter.delete({ host: params.host!, vm: params.vm!, name: params.name!, mode, reason,
      by: requester(req.headers.authorization, by) });
  });

  // ID: HOST/VM URL-encoded (HOST%2FVM), or a VM name only one host has.
  router.add("POST", "/v1/vms/:id/resolve", ({ params, body, req }) => {
    const parsed = ResolveBody.safeParse(body ?? {});
    if (!parsed.success) throw badBody(parsed.error.issues, '{"reason": "what was done about it", "by": "..." (optional)}');
    return resolveVm(store, params.id!, parsed.data.reason, requester(req.headers.authorization, parsed.data.by));
  });
}
