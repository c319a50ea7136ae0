/**
 * The probe registry: every probe, once, in the order reports list them.
 * Adding a probe: its file, one line here, its test, its codes in the README;
 * with a fact, also its file and line in shared/facts/ (README, "Host health").
 */
import type { AnyProbe } from "./types.js";
import { systemdProbe } from "./systemd.js";
import { vmPlacementProbe } from "./vm-placement.js";
import { libvirtHooksProbe } from "./libvirt-hooks.js";
import { mountsProbe } from "./mounts.js";
import { fstabProbe } from "./fstab.js";
import { kernelProbe } from "./kernel.js";
import { netconsoleProbe } from "./netconsole.js";

export const PROBES: readonly AnyProbe[] = [
  systemdProbe,
  vmPlacementProbe,
  libvirtHooksProbe,
  mountsProbe,
  fstabProbe,
  kernelProbe,
  netconsoleProbe,
];
