/**
 * The probe registry: every probe, once, in the order reports list them.
 * Adding a probe: its file, one line here, its test, its codes in the README.
 */
import type { Probe } from "./types.js";

export const PROBES: readonly Probe[] = [
];
