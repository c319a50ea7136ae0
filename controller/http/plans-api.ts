/**
 * The maintenance windows and plans API: group preferences, machine
 * memberships, plans (`plan week`, show, check, pause/resume/cancel) and the
 * iCalendar export. Shapes are shared/plans.ts, the CLI's --json.
 */
import { z } from "zod";
import { ApiError, Created, RawResponse, type Router } from "./router.js";
import type { Store } from "../store/index.js";
import { MachineBodySchema, WindowsBodySchema } from "../../shared/plans.js";
import { findMembership, machineRecord, machineRecords, membersPerGroup, registerMachine } from "../planning/machines.js";
import { windowsRecord } from "../planning/plan-records.js";
import { planCalendar } from "../planning/ics.js";
import type { PlanService } from "../planning/plan-service.js";
import type { PlanExecutor } from "../planning/plan-executor.js";

export interface PlansApiDeps {
  store: Store;
  service: PlanService;
  executor: PlanExecutor;
  clock: () => number;
}

const GroupName = z.string().min(1).max(128);
const KIND = z.enum(["vm", "host"]);

function issues(error: z.ZodError): string {
  return error.issues.slice(0, 8).map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");
}

export function registerPlansApi(router: Router, { store, service, executor, clock }: PlansApiDeps): void {
  const group = (text: string) => {
    const parsed = GroupName.safeParse(text);
    if (!parsed.success) throw new ApiError("NS_ERR_BAD_REQUEST", `group '${text}': 1 to 128 characters`);
    return parsed.data;
  };
  const windowsOf = (name: string) => {
    const pref = store.plans.preference(name);
    if (!pref) throw new ApiError("NS_ERR_NO_WINDOWS", `group '${name}' has no maintenance windows (see nightshift windows)`);
    return windowsRecord(pref, clock(), membersPerGroup(store).get(name) ?? 0);
  };

  router.add("PUT", "/v1/windows/:group", ({ params, body }) => {
    const name = group(params.group!);
    const parsed = WindowsBodySchema.safeParse(body ?? {});
    if (!parsed.success) throw new ApiError("NS_ERR_BAD_REQUEST", `windows of ${name}: ${issues(parsed.error)}`);
    store.plans.setPreference({ group: name, ...parsed.data }, clock());
    return windowsOf(name);
  });

  router.add("GET", "/v1/windows", () => {
    const counts = membersPerGroup(store);
    const now = clock();
    return store.plans.preferences().map((p) => windowsRecord(p, now, counts.get(p.group) ?? 0));
  });

  router.add("DELETE", "/v1/windows/:group", ({ params }) => {
    const record = windowsOf(params.group!);
    store.plans.deletePreference(record.group);
    return record;
  });

  router.add("PUT", "/v1/machines/:name", ({ params, body }) => {
    const parsed = MachineBodySchema.safeParse(body ?? {});
    if (!parsed.success) throw new ApiError("NS_ERR_BAD_REQUEST", `machine ${params.name}: ${issues(parsed.error)}`);
    return registerMachine(store, params.name!, parsed.data, clock());
  });

  router.add("GET", "/v1/machines", () => machineRecords(store));

  router.add("DELETE", "/v1/machines/:name", ({ params, url }) => {
    const kindText = url.searchParams.get("kind");
    const kind = kindText === null ? null : KIND.safeParse(kindText);
    if (kind && !kind.success) throw new ApiError("NS_ERR_BAD_REQUEST", `kind=${kindText}: expected vm or host`);
    const row = findMembership(store, params.name!, kind?.data ?? null);
    const record = machineRecord(store, row);
    store.plans.deleteMembership(row.id);
    return record;
  });

  router.add("POST", "/v1/plans", ({ body }) => {
    const { record, stored } = service.create(body);
    return stored ? new Created(record) : record;
  });

  // Before /v1/plans/:id, which would take "current" for an id.
  router.add("GET", "/v1/plans/current", () => service.current());
  router.add("GET", "/v1/plans/current/check", () => service.check());
  router.add("POST", "/v1/plans/current/pause", () => executor.pauseCurrent());
  router.add("POST", "/v1/plans/current/resume", () => executor.resumeCurrent());
  router.add("POST", "/v1/plans/current/cancel", () => executor.cancelCurrent());

  router.add("GET", "/v1/plans/current/ics", ({ url }) => {
    const wanted = url.searchParams.get("group");
    if (!wanted) throw new ApiError("NS_ERR_BAD_REQUEST", "group=GROUP is required: the calendar is one group's slots");
    const plan = service.currentRow();
    const slots = store.plans.slots(plan.id);
    const known = store.plans.preference(wanted) !== undefined || membersPerGroup(store).has(wanted) || slots.some((s) => s.grp === wanted);
    if (!known) throw new ApiError("NS_ERR_NO_GROUP", `no group '${wanted}': it has no windows, machines or slots`);
    return new RawResponse(200, "text/calendar; charset=utf-8", planCalendar(plan, slots, wanted));
  });

  router.add("GET", "/v1/plans/:id", ({ params }) => {
    const record = service.record(params.id!);
    if (!record) throw new ApiError("NS_ERR_NO_PLAN", `no plan with id '${params.id}'`);
    return record;
  });
}
