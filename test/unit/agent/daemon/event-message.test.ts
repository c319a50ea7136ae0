import { describe, expect, it } from "vitest";
import { toEventMessage } from "../../../../agent/daemon/event-message.js";
import { DomainEventSchema } from "../../../../shared/protocol/messages.js";
import type { DomainEvent } from "../../../../agent/libvirt/events.js";

const domain = { name: "web1", uuid: "3d0c5e2a-8f1b-4c1d-9e2f-0a1b2c3d4e5f", id: 3 };
const receivedAt = new Date("2026-11-23T12:01:02.345Z");

describe("toEventMessage", () => {
  it("maps each kind to the protocol's flat event, valid against DomainEventSchema", () => {
    const events: DomainEvent[] = [
      { kind: "lifecycle", domain, receivedAt, event: "stopped", detail: "destroyed", eventCode: 5, detailCode: 1 },
      { kind: "reboot", domain, receivedAt },
      { kind: "agent-lifecycle", domain, receivedAt, state: "connected", reason: "channel" },
    ];
    const messages = events.map((e, i) => toEventMessage(e, `00000000-0000-4000-8000-00000000000${i}`));
    expect(messages).toEqual([
      { id: "00000000-0000-4000-8000-000000000000", time: "2026-11-23T12:01:02.345Z", domain: "web1", uuid: domain.uuid,
        kind: "lifecycle", event: "stopped", detail: "destroyed" },
      { id: "00000000-0000-4000-8000-000000000001", time: "2026-11-23T12:01:02.345Z", domain: "web1", uuid: domain.uuid, kind: "reboot" },
      { id: "00000000-0000-4000-8000-000000000002", time: "2026-11-23T12:01:02.345Z", domain: "web1", uuid: domain.uuid,
        kind: "agent-lifecycle", state: "connected", reason: "channel" },
    ]);
    for (const m of messages) expect(DomainEventSchema.safeParse(m).success).toBe(true);
  });

  it("gives every event a fresh unique id by default", () => {
    const event: DomainEvent = { kind: "reboot", domain, receivedAt };
    const ids = new Set(Array.from({ length: 1_000 }, () => toEventMessage(event).id));
    expect(ids.size).toBe(1_000);
  });
});
