/**
 * The step registry: every action kind's handler, once. Adding a kind: its
 * schema in shared/protocol/steps.ts, its file here, one line below, its test.
 */
import type { AnyStepHandler } from "../types.js";
import { checkAllowedAction } from "./check-allowed.js";
import { diskSpaceAction } from "./disk-space.js";
import { guestPingAction, waitGuestAgentAction } from "./guest-agent.js";
import { guestExecAction } from "./guest-exec.js";
import { guestUptimeAction, guestUsersAction, rebootRequiredAction } from "./guest-info.js";
import { hookAction } from "./hook.js";
import { inspectAction } from "./inspect.js";
import { rebootAction } from "./reboot.js";
import { snapshotCreateAction, snapshotDeleteAction, snapshotDiscardAction, snapshotExistsAction, snapshotRevertAction } from "./snapshot.js";
import { startAction } from "./start.js";
import { tcpCheckAction } from "./tcp-check.js";

export const STEP_HANDLERS: readonly AnyStepHandler[] = [
  inspectAction,
  checkAllowedAction,
  guestPingAction,
  waitGuestAgentAction,
  guestExecAction,
  guestUsersAction,
  guestUptimeAction,
  rebootRequiredAction,
  diskSpaceAction,
  snapshotCreateAction,
  snapshotExistsAction,
  snapshotRevertAction,
  snapshotDeleteAction,
  snapshotDiscardAction,
  startAction,
  rebootAction,
  tcpCheckAction,
  hookAction,
];
