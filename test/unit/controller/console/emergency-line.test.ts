import { describe, expect, it } from "vitest";
import { parseConsoleLine } from "../../../../controller/console/emergency-line.js";

const BOOT = "0f3c5d0e-8a4b-4c1e-9d2f-6b7a8c9d0e1f";

describe("console lines", () => {
  it("reads the emergency report behind a printk time stamp", () => {
    expect(parseConsoleLine(`[   14.207311] nightshift-emergency: v1 host=web1 target=rescue.target boot=${BOOT} failed=srv-data.mount,nfs.mount`))
      .toEqual({ kind: "emergency", host: "web1", target: "rescue.target", boot: BOOT, failedUnits: ["srv-data.mount", "nfs.mount"] });
    expect(parseConsoleLine("nightshift-emergency: v1 host=web1 target=emergency.target failed="))
      .toEqual({ kind: "emergency", host: "web1", target: "emergency.target", boot: null, failedUnits: [] });
  });

  it("reads an fstab line verbatim, spaces and all", () => {
    expect(parseConsoleLine("nightshift-emergency-fstab: v1 unit=srv-data.mount line=/dev/vdc  /srv/data xfs defaults 0 2 "))
      .toEqual({ kind: "fstab", unit: "srv-data.mount", line: "/dev/vdc  /srv/data xfs defaults 0 2" });
  });

  it("an ordinary line, or a report it cannot trust whole, is no report", () => {
    for (const text of [
      "EXT4-fs (vdc): VFS: Can't find xfs filesystem",
      "nightshift-emergency: v2 host=web1 target=emergency.target",
      "nightshift-emergency: v1 target=emergency.target",
      "nightshift-emergency: v1 host=web1 target=multi-user.target",
      "nightshift-emergency: v1 host=web1 target=emergency.target failed=a;rm",
      "nightshift-emergency: v1 host=web1 target=emergency.target junk",
      "nightshift-emergency: v1 host=we\u001b[2Jb1 target=emergency.target",
      `nightshift-emergency: v1 host=web1 target=emergency.target failed=${Array.from({ length: 65 }, (_, i) => `u${i}.mount`).join(",")}`,
      "nightshift-emergency-fstab: v1 unit=a/b line=x",
      "xnightshift-emergency: v1 host=web1 target=emergency.target",
    ]) expect(parseConsoleLine(text), text).toBeNull();
  });

  it("a boot id that is not one is dropped, the report kept", () => {
    expect(parseConsoleLine("nightshift-emergency: v1 host=web1 target=emergency.target boot=$(id)")).toMatchObject({ boot: null });
  });
});
