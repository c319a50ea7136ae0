/** How long each kind of step may take, from the controller's config; one place for all of them. */
import type { ControllerConfig } from "../config.js";

export interface RunTimeouts {
  /** Reads and small operations (inspect, ping, start, delete). */
  quickMs: number;
  verifyExecMs: number;
  tcpMs: number;
  httpMs: number;
  snapshotMs: number;
  revertMs: number;
  /** Waiting for a guest agent after a start, reboot or revert. */
  guestAgentMs: number;
  rebootMs: number;
  hookMs: number;
  /** How long a step waits for its disconnected agent (runs.agentLostTimeoutSeconds). */
  agentLostMs: number;
  /** Added to a step's own time limit for the controller's wait, so the agent's timeout answers first. */
  marginMs: number;
}

export function runTimeouts(config: ControllerConfig["runs"]): RunTimeouts {
  const s = (seconds: number) => seconds * 1000;
  return {
    quickMs: s(config.quickStepTimeoutSeconds),
    verifyExecMs: s(config.verifyTimeoutSeconds),
    tcpMs: s(10),
    httpMs: s(config.verifyTimeoutSeconds),
    snapshotMs: s(config.snapshotTimeoutSeconds),
    revertMs: s(config.snapshotTimeoutSeconds),
    guestAgentMs: s(config.guestAgentTimeoutSeconds),
    rebootMs: s(config.guestAgentTimeoutSeconds),
    hookMs: s(config.verifyTimeoutSeconds),
    agentLostMs: s(config.agentLostTimeoutSeconds),
    marginMs: s(15),
  };
}
