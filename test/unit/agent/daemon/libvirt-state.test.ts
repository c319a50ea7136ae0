import { describe, expect, it } from "vitest";
import { LibvirtStateTracker, libvirtReason, type LibvirtStateMessage } from "../../../../agent/daemon/libvirt-state.js";
import { STUCK_LIBVIRT_ATTEMPT_MS, watchdogWithheld } from "../../../../agent/daemon/run.js";
import { ConnectionInterruptedError, LibvirtConnectError } from "../../../../agent/libvirt/errors.js";
import { LibvirtStateSchema, PROTOCOL_VERSION } from "../../../../shared/protocol/messages.js";

const SOCKET = "/var/run/libvirt/libvirt-sock";
const missing = () => new LibvirtConnectError("NS_ERR_LIBVIRT_SOCKET_MISSING", SOCKET, `libvirt socket ${SOCKET} does not exist: is libvirtd installed and running?`);
const refused = () => new LibvirtConnectError("NS_ERR_LIBVIRT_UNREACHABLE", SOCKET,
  `libvirt socket ${SOCKET} exists but nothing accepts connections on it: libvirtd is not running`);

describe("libvirtReason", () => {
  it("says the connect error in a few words, ending in its code", () => {
    expect(libvirtReason(missing())).toEqual({ code: "NS_ERR_LIBVIRT_SOCKET_MISSING", detail: `socket ${SOCKET} missing (NS_ERR_LIBVIRT_SOCKET_MISSING)` });
    expect(libvirtReason(new LibvirtConnectError("NS_ERR_LIBVIRT_ACCESS_DENIED", SOCKET, "x")).detail)
      .toBe(`permission denied on socket ${SOCKET} (NS_ERR_LIBVIRT_ACCESS_DENIED)`);
    expect(libvirtReason(refused()).detail)
      .toBe(`socket ${SOCKET} exists but nothing accepts connections on it: libvirtd is not running (NS_ERR_LIBVIRT_UNREACHABLE)`);
    expect(libvirtReason(new ConnectionInterruptedError("the daemon closed the connection")).detail)
      .toBe("libvirt connection interrupted: the daemon closed the connection (NS_ERR_LIBVIRT_INTERRUPTED)");
    expect(libvirtReason(new Error("boom"))).toEqual({ code: "NS_ERR_LIBVIRT", detail: "boom (NS_ERR_LIBVIRT)" });
  });

  it("stays within the protocol's bound", () => {
    const { detail } = libvirtReason(new Error("x".repeat(5000)));
    expect(detail.length).toBeLessThanOrEqual(1024);
    expect(detail).toMatch(/… \(NS_ERR_LIBVIRT\)$/);
  });
});

describe("LibvirtStateTracker", () => {
  it("is unknown until the first attempt ends, then passes on each change; a new reason keeps `since`", () => {
    const sent: LibvirtStateMessage[] = [];
    let now = Date.parse("2026-01-01T00:00:00Z");
    const tracker = new LibvirtStateTracker((m) => sent.push(m), () => new Date(now));
    expect(tracker.message()).toBeNull();

    tracker.unreachable(missing());
    now += 1_000;
    tracker.unreachable(missing());
    expect(sent).toEqual([{ type: "libvirt-state", state: "unreachable", since: "2026-01-01T00:00:00.000Z",
      code: "NS_ERR_LIBVIRT_SOCKET_MISSING", detail: `socket ${SOCKET} missing (NS_ERR_LIBVIRT_SOCKET_MISSING)` }]);

    now += 1_000;
    tracker.unreachable(refused());
    expect(sent).toHaveLength(2);
    expect(sent[1]).toMatchObject({ state: "unreachable", code: "NS_ERR_LIBVIRT_UNREACHABLE", since: "2026-01-01T00:00:00.000Z" });

    now += 1_000;
    tracker.connected("9.0.0");
    expect(sent[2]).toEqual({ type: "libvirt-state", state: "connected", since: "2026-01-01T00:00:03.000Z", libvirtVersion: "9.0.0" });
    expect(tracker.message()).toBe(sent[2]);

    now += 1_000;
    tracker.unreachable(refused());
    expect(sent[3]).toMatchObject({ state: "unreachable", since: "2026-01-01T00:00:04.000Z" });
    // Every message is one the protocol accepts.
    for (const m of sent) expect(LibvirtStateSchema.safeParse({ v: PROTOCOL_VERSION, ...m }).success).toBe(true);
  });
});

describe("watchdogWithheld", () => {
  it("feeds the watchdog between attempts and during short ones; withholds it for an attempt stuck past the limit", () => {
    expect(watchdogWithheld({ attemptAgeMs: () => 0 })).toBeNull();
    expect(watchdogWithheld({ attemptAgeMs: () => STUCK_LIBVIRT_ATTEMPT_MS - 1 })).toBeNull();
    expect(watchdogWithheld({ attemptAgeMs: () => 61_400 }))
      .toBe("a libvirt connect attempt has been waiting for libvirtd's answer for 61 s");
  });
});
