import { describe, expect, it } from "vitest";
import { optionMap, parseMountInfo, topMounts, unescapeMountField } from "../../../../agent/probes/mountinfo.js";

describe("parseMountInfo", () => {
  it("reads every field of proc(5)'s example line", () => {
    const { entries, errors } = parseMountInfo("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n");
    expect(errors).toEqual([]);
    expect(entries).toEqual([{
      lineNo: 1, mountId: 36, parentId: 35, major: 98, minor: 0, root: "/mnt1", mountPoint: "/mnt2",
      mountOptions: ["rw", "noatime"], optionalFields: [{ tag: "master", value: "1" }],
      fstype: "ext3", source: "/dev/root", superOptions: ["rw", "errors=continue"],
    }]);
  });

  it("takes zero, one or several optional fields up to the lone dash", () => {
    const text = [
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
      "28 27 0:25 / /a rw shared:1 master:2 propagate_from:3 - tmpfs tmpfs rw",
      "29 27 0:26 / /b rw unbindable - tmpfs tmpfs rw",
    ].join("\n");
    const { entries, errors } = parseMountInfo(text);
    expect(errors).toEqual([]);
    expect(entries.map((e) => e.optionalFields)).toEqual([
      [],
      [{ tag: "shared", value: "1" }, { tag: "master", value: "2" }, { tag: "propagate_from", value: "3" }],
      [{ tag: "unbindable", value: null }],
    ]);
  });

  it("decodes octal escapes in root, mount point, type and source (space, tab, newline, backslash)", () => {
    const line = "40 27 0:39 /sub\\040dir /mnt/my\\040share\\011x\\012y\\134z rw - fuse.my\\040fs srv:/ex\\040port rw";
    const [e] = parseMountInfo(line).entries;
    expect(e!.root).toBe("/sub dir");
    expect(e!.mountPoint).toBe("/mnt/my share\tx\ny\\z");
    expect(e!.fstype).toBe("fuse.my fs");
    expect(e!.source).toBe("srv:/ex port");
  });

  it("splits super options on commas before decoding, so an escaped comma stays in its value", () => {
    const [e] = parseMountInfo("50 27 0:50 / /n rw - nfs4 nas01:/export rw,vers=4.2,hard,context=\"a\\054b\",addr=10.0.0.5").entries;
    expect(e!.superOptions).toEqual(["rw", "vers=4.2", "hard", "context=\"a,b\"", "addr=10.0.0.5"]);
    expect(optionMap(e!.superOptions).get("vers")).toBe("4.2");
    expect(optionMap(e!.superOptions).get("hard")).toBeNull();
  });

  it("keeps an empty source (two spaces in a row) and an nsfs root that is not a path", () => {
    const { entries, errors } = parseMountInfo([
      "60 27 0:60 / /e rw - tmpfs  rw",
      "61 27 0:4 net:[4026532281] /run/netns/blue rw - nsfs nsfs rw",
    ].join("\n"));
    expect(errors).toEqual([]);
    expect(entries[0]!.source).toBe("");
    expect(entries[0]!.fstype).toBe("tmpfs");
    expect(entries[1]!.root).toBe("net:[4026532281]");
  });

  it("reports malformed lines with their number and reason, and keeps the good ones", () => {
    const text = [
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
      "garbage",
      "28 27 0:25 / /a rw shared:1 tmpfs tmpfs rw extra",
      "x 27 0:25 / /a rw - tmpfs tmpfs rw",
      "29 27 025 / /a rw - tmpfs tmpfs rw",
      "30 27 0:25 / relative rw - tmpfs tmpfs rw",
      "",
      "31 27 0:25 / /ok rw - tmpfs tmpfs rw",
    ].join("\n");
    const { entries, errors } = parseMountInfo(text);
    expect(entries.map((e) => [e.lineNo, e.mountPoint])).toEqual([[1, "/"], [8, "/ok"]]);
    expect(errors.map((e) => e.lineNo)).toEqual([2, 3, 4, 5, 6]);
    expect(errors[1]!.reason).toMatch(/separator/);
    expect(errors[3]!.reason).toMatch(/major:minor/);
    expect(errors[4]!.reason).toMatch(/not absolute/);
  });

  it("parses a real /proc/self/mountinfo of this machine without errors", async () => {
    const { readFile } = await import("node:fs/promises");
    const { entries, errors } = parseMountInfo(await readFile("/proc/self/mountinfo", "utf8"));
    expect(errors).toEqual([]);
    expect(entries.some((e) => e.mountPoint === "/")).toBe(true);
    expect(entries.find((e) => e.mountPoint === "/proc")?.fstype).toBe("proc");
  });
});

describe("topMounts", () => {
  it("picks the mount on top when several are stacked on one point", () => {
    const { entries } = parseMountInfo([
      "27 1 254:0 / / rw - ext4 /dev/vda rw",
      "40 27 0:40 / /srv rw - autofs systemd-1 rw,fd=40",
      "41 40 0:41 / /srv rw - nfs4 nas:/srv rw,hard",
      "42 27 0:42 / /other rw - tmpfs tmpfs rw",
    ].join("\n"));
    const top = topMounts(entries);
    expect(top.get("/srv")?.fstype).toBe("nfs4");
    expect(top.get("/other")?.fstype).toBe("tmpfs");
    expect(top.size).toBe(3);
  });

  it("goes by parenthood, not by line order", () => {
    const { entries } = parseMountInfo([
      "41 40 0:41 / /srv rw - nfs4 nas:/srv rw,hard",
      "40 27 0:40 / /srv rw - autofs systemd-1 rw,fd=40",
    ].join("\n"));
    expect(topMounts(entries).get("/srv")?.fstype).toBe("nfs4");
  });
});

describe("helpers", () => {
  it("leaves text without escapes alone and decodes only three-digit octal escapes", () => {
    expect(unescapeMountField("/plain")).toBe("/plain");
    expect(unescapeMountField("a\\040b\\04")).toBe("a b\\04");
  });

  it("optionMap: flags map to null, the last value wins", () => {
    expect([...optionMap(["rw", "a=1", "a=2", "x="])]).toEqual([["rw", null], ["a", "2"], ["x", ""]]);
  });
});
