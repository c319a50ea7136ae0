/**
 * The maintenance-run API: start (or dry-run), list, show, evidence, abort,
 * and the snapshots runs took. Shapes are shared/runs.ts, the CLI's --json.
 */
import { z } from "zod";
import { ApiError, Created, type Router } from "./router.js";
import type { Store } from "../store/index.js";
import type { RunEngine } from "../runs/engine.js";
import { evidenceRecord, runRecord, snapshotRecord } from "../runs/records.js";

export interface RunsApiDeps {
  store: Store;
  engine: RunEngine;
}

const StartBody = z.object({ spec: z.unknown(), dryRun: z.boolean().optional(), waitForAgent: z.boolean().optional() });

function positiveInt(text: string | null, name: string, fallback: number, min = 1): number {
  if (text === null) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new ApiError("NS_ERR_BAD_REQUEST", `${name}=${text}: expected an integer of at least ${min}`);
  return n;
}

export function registerRunsApi(router: Router, { store, engine }: RunsApiDeps): void {
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
}
