/** The systemd probe's fact (agent/probes/systemd.ts): the init system's state. */
import { z } from "zod";
import { clipText } from "../protocol/clip.js";
import { objectFact } from "./spec.js";

export const SYSTEMD_FACT_LIMITS = { state: 32, failedUnits: 1000, unit: 256 } as const;

export const SystemdFactSchema = z.object({
  /** `systemctl is-system-running`: running, degraded, maintenance, starting, ...; "absent" without systemd. */
  state: z.string().max(SYSTEMD_FACT_LIMITS.state),
  failedUnits: z.array(z.string().max(SYSTEMD_FACT_LIMITS.unit)).max(SYSTEMD_FACT_LIMITS.failedUnits),
  /** The previous boot entered emergency or rescue mode (null: unknown, e.g. no persistent journal). */
  previousBootEmergency: z.boolean().nullable(),
});
export type SystemdFact = z.infer<typeof SystemdFactSchema>;

export const SYSTEMD_FACT = objectFact({
  probe: "systemd",
  kind: "systemd",
  schema: SystemdFactSchema,
  clip: (s) => ({
    ...s,
    state: clipText(s.state, SYSTEMD_FACT_LIMITS.state),
    failedUnits: s.failedUnits.slice(0, SYSTEMD_FACT_LIMITS.failedUnits).map((u) => clipText(u, SYSTEMD_FACT_LIMITS.unit)),
  }),
  gauges: [
    {
      name: "nightshift_systemd_state", help: "1 for the host's `systemctl is-system-running` state (absent without systemd).",
      labelNames: ["state"],
      samples: (s) => (s.state ? [{ labels: { state: s.state }, value: 1 }] : []),
    },
    {
      name: "nightshift_previous_boot_emergency", help: "1 when the host's previous boot entered emergency or rescue mode (absent when unknown).",
      labelNames: [],
      samples: (s) => (s.previousBootEmergency === null ? [] : [{ labels: {}, value: s.previousBootEmergency ? 1 : 0 }]),
    },
  ],
});
