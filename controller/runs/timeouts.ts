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
  /** How long a step waits for its disconnected agent (runs.agentLostTimeout). */
  agentLostMs: number;
  /** Added to a step's own time limit for the controller's wait, so the agent's timeout answers first. */
  marginMs: number;
}

export function runTimeouts(config: ControllerConfig["runs"]): RunTimeouts {
  // The config's durations are milliseconds already.
  return {
    quickMs: config.quickStepTimeout,
    verifyExecMs: config.verifyTimeout,
    tcpMs: 10_000,
    httpMs: config.verifyTimeout,
    snapshotMs: config.snapshotTimeout,
    revertMs: config.snapshotTimeout,
    guestAgentMs: config.guestAgentTimeout,
    rebootMs: config.guestAgentTimeout,
    hookMs: config.verifyTimeout,
    agentLostMs: config.agentLostTimeout,
    marginMs: 15_000,
  };
}
