/**
 * The fact registry: every probe's fact, once, keyed by the probe's name (its
 * key in a health report's `facts`). The agent's probes name their spec as
 * `fact`; the controller checks, stores and exports facts through this list
 * alone. Adding a fact: its file here, one line below, the probe's `fact:`.
 */
import { z } from "zod";
import type { FactSpec } from "./spec.js";
import { MOUNTS_FACT } from "./mounts.js";
import { SYSTEMD_FACT } from "./systemd.js";
import { KERNEL_FACT } from "./kernel.js";

export const FACTS = {
  mounts: MOUNTS_FACT,
  systemd: SYSTEMD_FACT,
  kernel: KERNEL_FACT,
} as const;

export type FactName = keyof typeof FACTS;
type ValueOf<S> = S extends FactSpec<infer F> ? F : never;
/** The facts of one report, each under its probe's name. */
export type Facts = { [K in FactName]?: ValueOf<(typeof FACTS)[K]> };

/** Every registered fact, in registry order. */
export const FACT_SPECS: readonly FactSpec<unknown>[] = Object.values(FACTS);

/** The spec of probe `name`'s fact, if it has one. */
export function factSpec(name: string): FactSpec<unknown> | undefined {
  return Object.hasOwn(FACTS, name) ? (FACTS as Record<string, FactSpec<unknown>>)[name] : undefined;
}

/** A report's facts as the agent sends them: only registered ones, each valid whole. */
export const FactsSchema = z.object(
  Object.fromEntries(Object.entries(FACTS).map(([name, spec]) => [name, spec.schema.optional()])),
).strict() as unknown as z.ZodType<Facts>;
