/** start: starts the VM unless it is already active (running or paused), so a repeated start is harmless. */
import type { StepHandler } from "../types.js";
import { lookupVm } from "../vm.js";

export const startAction: StepHandler<"start"> = {
  kind: "start",
  async run(action, ctx) {
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    if (await conn.domainIsActive(dom)) return { started: false };
    await conn.domainCreate(dom);
    return { started: true };
  },
};
