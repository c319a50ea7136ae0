import { describe, expect, it } from "vitest";
import { uuidv7 } from "../../../shared/ids.js";
import { DomainEventSchema } from "../../../shared/protocol/messages.js";

describe("uuidv7", () => {
  it("is a version-7, variant-10 UUID carrying the time in its first 48 bits", () => {
    const id = uuidv7(0x0190_1234_5678);
    expect(id).toMatch(/^01901234-5678-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("sorts by time across milliseconds and stays unique within one", () => {
    const earlier = uuidv7(1_000_000);
    const later = uuidv7(1_000_001);
    expect(earlier < later).toBe(true);
    const same = new Set(Array.from({ length: 1000 }, () => uuidv7(5)));
    expect(same.size).toBe(1000);
  });

  it("is accepted as an event id by the protocol", () => {
    const event = { id: uuidv7(), time: new Date().toISOString(), domain: "web1", uuid: uuidv7(), kind: "reboot" };
    expect(DomainEventSchema.safeParse(event).success).toBe(true);
  });
});
