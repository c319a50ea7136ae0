/** The kernel probe's fact (agent/probes/kernel.ts): the running kernel against the newest installed one. */
import { z } from "zod";
import { clipText } from "../protocol/clip.js";
import { objectFact } from "./spec.js";

const RELEASE_MAX = 256;

export const KernelFactSchema = z.object({
  /** The running kernel's release (`uname -r`). */
  running: z.string().max(RELEASE_MAX),
  /** The newest installed kernel's release, in version order; null when none was found. */
  newestInstalled: z.string().max(RELEASE_MAX).nullable(),
  /** The newest installed kernel is newer than the running one: the next boot changes the kernel. */
  rebootNeeded: z.boolean(),
});
export type KernelFact = z.infer<typeof KernelFactSchema>;

export const KERNEL_FACT = objectFact({
  probe: "kernel",
  kind: "kernel",
  schema: KernelFactSchema,
  clip: (k) => ({ ...k, running: clipText(k.running, RELEASE_MAX), newestInstalled: k.newestInstalled && clipText(k.newestInstalled, RELEASE_MAX) }),
  gauges: [{
    name: "nightshift_host_reboot_required",
    help: "1 when a newer kernel than the running one is installed (the next boot changes the kernel), else 0.",
    labelNames: [],
    samples: (k) => [{ labels: {}, value: k.rebootNeeded ? 1 : 0 }],
  }],
});
