/**
 * A probe's fact: what a probe knows of its host besides findings (the mounts
 * and their state, systemd's state, the running kernel). The agent sends it in
 * a health report under `facts.<probe>`; the controller checks it against the
 * fact's schema, stores it as JSON (controller/store/facts.ts) and exports the
 * fact's gauges from it (controller/metrics.ts). One file per fact in this
 * directory, listed once in index.ts; the probe names the same spec as its
 * `fact` (agent/probes/types.ts).
 *
 * A fact that is a list (one item per mount) is checked item by item, so one
 * bad item is refused alone, and is what the agent shortens, last items first,
 * when its report would not fit the protocol (agent/daemon/health-fit.ts).
 */
import { z } from "zod";
import { describeIssues, type RefusedItem } from "../protocol/refused.js";

export interface FactSample {
  labels: Record<string, string>;
  value: number;
}

/** A gauge exported from every host's stored fact of one probe. */
export interface FactGauge<F> {
  name: string;
  help: string;
  /** Its labels after `host`, which every fact gauge has first. */
  labelNames: readonly string[];
  /** The samples of one host's fact. */
  samples(fact: F): FactSample[];
}

export interface FactCheck<F> {
  /** What could be taken: undefined when the fact was refused whole. */
  value: F | undefined;
  refused: RefusedItem[];
}

export interface FactList<F> {
  /** How the notice of a shortened report counts its items: "mount facts". */
  noun: string;
  /** The most items the schema allows. */
  max: number;
  items(fact: F): readonly unknown[];
  take(fact: F, n: number): F;
}

export interface FactSpec<F> {
  /** The probe that reports it: its key in a report's `facts`. */
  readonly probe: string;
  /** What a refused part is counted as (nightshift_agent_items_refused_total{kind}). */
  readonly kind: string;
  readonly schema: z.ZodType<F>;
  /** Set for a fact that is a list. */
  readonly list?: FactList<F>;
  /** The fact as the controller takes it, with what it refused. */
  check(raw: unknown, path: string): FactCheck<F>;
  /** The fact within the schema's string bounds (the agent, before sending); a list's length is health-fit's. */
  clip(fact: F): F;
  readonly gauges: readonly FactGauge<F>[];
}

/** A fact that is a list of items, checked one by one. */
export function listFact<I>(def: {
  probe: string;
  kind: string;
  noun: string;
  item: z.ZodType<I>;
  max: number;
  /** What a refused item names, when that can be read. */
  label(raw: unknown): string | null;
  clipItem(item: I): I;
  gauges: FactGauge<I[]>[];
}): FactSpec<I[]> {
  const envelope = z.array(z.unknown()).max(def.max);
  return {
    probe: def.probe,
    kind: def.kind,
    schema: z.array(def.item).max(def.max),
    list: { noun: def.noun, max: def.max, items: (fact) => fact, take: (fact, n) => fact.slice(0, n) },
    gauges: def.gauges,
    // Its count is the agent's to bound, saying what it left out (health-fit.ts).
    clip: (fact) => fact.map(def.clipItem),
    check(raw, path) {
      const list = envelope.safeParse(raw);
      if (!list.success) return { value: undefined, refused: [{ kind: def.kind, path, label: null, problem: describeIssues(list.error), raw }] };
      const value: I[] = [];
      const refused: RefusedItem[] = [];
      list.data.forEach((item, i) => {
        const result = def.item.safeParse(item);
        if (result.success) value.push(result.data);
        else refused.push({ kind: def.kind, path: `${path}[${i}]`, label: def.label(item), problem: describeIssues(result.error), raw: item });
      });
      return { value, refused };
    },
  };
}

/** A fact that is one object, taken or refused whole. */
export function objectFact<F>(def: {
  probe: string;
  kind: string;
  schema: z.ZodType<F>;
  clip(fact: F): F;
  gauges: FactGauge<F>[];
}): FactSpec<F> {
  return {
    probe: def.probe,
    kind: def.kind,
    schema: def.schema,
    gauges: def.gauges,
    clip: def.clip,
    check(raw, path) {
      const result = def.schema.safeParse(raw);
      return result.success
        ? { value: result.data, refused: [] }
        : { value: undefined, refused: [{ kind: def.kind, path, label: null, problem: describeIssues(result.error), raw }] };
    },
  };
}
