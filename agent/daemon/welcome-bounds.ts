/**
 * The agent's own bounds on what a welcome asks of it (WELCOME_LIMITS): the
 * inventory interval and the heartbeat. A value outside is not refused (the
 * session is otherwise fine, and refusing would only make the agent reconnect
 * to the same controller); the nearest bound is used and each clamped field
 * is reported, so the link can log it.
 */
import { WELCOME_LIMITS, type Welcome } from "../../shared/protocol/messages.js";

export interface ClampedField {
  field: keyof typeof WELCOME_LIMITS;
  asked: number;
  used: number;
  min: number;
  max: number;
}

export function boundedWelcome(welcome: Welcome): { welcome: Welcome; clamped: ClampedField[] } {
  const clamped: ClampedField[] = [];
  const bounded = { ...welcome };
  for (const field of Object.keys(WELCOME_LIMITS) as (keyof typeof WELCOME_LIMITS)[]) {
    const { min, max } = WELCOME_LIMITS[field];
    const asked = welcome[field];
    const used = Math.min(max, Math.max(min, asked));
    if (used === asked) continue;
    bounded[field] = used;
    clamped.push({ field, asked, used, min, max });
  }
  return { welcome: bounded, clamped };
}
