import { afterEach, describe, expect, it, vi } from "vitest";
import { AgentStatus } from "../../../../agent/daemon/status.js";

afterEach(() => { vi.useRealTimers(); });

describe("AgentStatus", () => {
  it("says what libvirt and the controller link are doing and how much is spooled", () => {
    const sent: string[] = [];
    const status = new AgentStatus({ status: (t) => sent.push(t) }, 0);
    status.libvirt = "libvirt qemu:///system connected";
    status.controller = "connected to controller wss://c:8650/v1/agent";
    status.spoolSize = 3;
    expect(sent.at(-1)).toBe("libvirt qemu:///system connected; connected to controller wss://c:8650/v1/agent; 3 events spooled");
  });

  it("passes changes on at most once per interval, the latest winning", () => {
    vi.useFakeTimers();
    const sent: string[] = [];
    const status = new AgentStatus({ status: (t) => sent.push(t) }, 1_000);
    status.spoolSize = 1;
    for (let n = 2; n <= 50; n++) status.spoolSize = n;
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(1_000);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toMatch(/; 50 events spooled$/);
    status.close();
    status.spoolSize = 0;
    vi.advanceTimersByTime(5_000);
    expect(sent).toHaveLength(2);
  });
});
