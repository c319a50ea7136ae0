/** The mounts probe's fact (agent/probes/mounts.ts): every mount it looked at, and its state. */
import { z } from "zod";
import { clipText } from "../protocol/clip.js";
import { clipLabel, stringField } from "../protocol/refused.js";
import { listFact } from "./spec.js";

export const MOUNT_FACT_LIMITS = { mountPoint: 4096, fstype: 64, source: 4096 } as const;
export const MAX_MOUNT_FACTS = 10_000;

/** A mount's health as the mounts probe saw it. */
export const MountFactSchema = z.object({
  mountPoint: z.string().max(MOUNT_FACT_LIMITS.mountPoint),
  fstype: z.string().max(MOUNT_FACT_LIMITS.fstype),
  source: z.string().max(MOUNT_FACT_LIMITS.source),
  state: z.enum(["up", "hung", "missing", "empty"]),
  /** Whether fstab lists it. */
  inFstab: z.boolean(),
  network: z.boolean(),
});
export type MountFact = z.infer<typeof MountFactSchema>;

export const MOUNTS_FACT = listFact({
  probe: "mounts",
  kind: "mount",
  noun: "mount facts",
  item: MountFactSchema,
  max: MAX_MOUNT_FACTS,
  label: (raw) => {
    const mountPoint = stringField(raw, "mountPoint");
    return mountPoint === null ? null : clipLabel(mountPoint);
  },
  clipItem: (m) => ({
    ...m, mountPoint: clipText(m.mountPoint, MOUNT_FACT_LIMITS.mountPoint), fstype: clipText(m.fstype, MOUNT_FACT_LIMITS.fstype),
    source: clipText(m.source, MOUNT_FACT_LIMITS.source),
  }),
  gauges: [
    {
      name: "nightshift_mount_up", help: "1 when the mount answers, 0 when it is hung, missing or empty (see nightshift_mount_state).",
      labelNames: ["mount_point", "fstype"],
      samples: (mounts) => mounts.map((m) => ({ labels: { mount_point: m.mountPoint, fstype: m.fstype }, value: m.state === "up" ? 1 : 0 })),
    },
    {
      name: "nightshift_mount_hung", help: "1 when the mount did not answer within the probe's timeout.",
      labelNames: ["mount_point"],
      samples: (mounts) => mounts.map((m) => ({ labels: { mount_point: m.mountPoint }, value: m.state === "hung" ? 1 : 0 })),
    },
    {
      name: "nightshift_mount_state", help: "1 for the mount's current state: up, hung, missing, empty.",
      labelNames: ["mount_point", "state"],
      samples: (mounts) => mounts.map((m) => ({ labels: { mount_point: m.mountPoint, state: m.state }, value: 1 })),
    },
  ],
});
