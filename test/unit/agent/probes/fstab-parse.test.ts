/** parseFstab against libmount's rules, formatFstabLine's corrected lines, the fix suggested for refused lines. */
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  escapeFstabField, formatFstabLine, fstabOption, networkServers, parseFstab, parseSourceTag, suggestFstabLineFix, unescapeFstabField,
} from "../../../../agent/probes/fstab-parse.js";
import type { FstabEntry } from "../../../../agent/probes/fstab-types.js";

function only(text: string): FstabEntry {
  const { entries, errors } = parseFstab(text);
  expect(errors).toEqual([]);
  expect(entries).toHaveLength(1);
  return entries[0]!;
}

describe("parseFstab: lines", () => {
  it("skips comments (also indented) and blank lines, numbers lines from 1 counting them", () => {
    const text = "# static file system information\n\n   # indented comment\n\t\n/dev/sda1 / ext4 defaults 0 1\n";
    const { entries, errors } = parseFstab(text);
    expect(errors).toEqual([]);
    expect(entries.map((e) => [e.lineNo, e.source, e.mountPoint])).toEqual([[5, "/dev/sda1", "/"]]);
  });

  it("keeps a '#' after the first field as data (fstab has no trailing comments)", () => {
    const e = only("/dev/sdb1 /srv/a#b ext4 defaults 0 2\n");
    expect(e.mountPoint).toBe("/srv/a#b");
  });

  it("ignores fields after pass, as libmount does, and keeps them in raw", () => {
    const e = only("/dev/sdb1 /srv ext4 defaults 0 2 # data disk\n");
    expect([e.dump, e.pass, e.raw]).toEqual([0, 2, "/dev/sdb1 /srv ext4 defaults 0 2 # data disk"]);
  });

  it("splits on any run of spaces and tabs, drops a CR, accepts a last line without newline", () => {
    const { entries } = parseFstab("UUID=a\t\t/   ext4 \t errors=remount-ro  0\t1\r\n/dev/sdb1 /srv xfs defaults 0 2");
    expect(entries.map((e) => [e.lineNo, e.source, e.mountPoint, e.fstype, e.options, e.dump, e.pass, e.raw])).toEqual([
      [1, "UUID=a", "/", "ext4", ["errors=remount-ro"], 0, 1, "UUID=a\t\t/   ext4 \t errors=remount-ro  0\t1"],
      [2, "/dev/sdb1", "/srv", "xfs", ["defaults"], 0, 2, "/dev/sdb1 /srv xfs defaults 0 2"],
    ]);
  });

  it.each([
    ["options, dump and pass missing", "/dev/sdb1 /srv ext4", [], 0, 0],
    ["dump and pass missing", "/dev/sdb1 /srv ext4 noatime", ["noatime"], 0, 0],
    ["pass missing", "/dev/sdb1 /srv ext4 noatime 1", ["noatime"], 1, 0],
  ])("defaults: %s", (_name, line, options, dump, pass) => {
    const e = only(line);
    expect([e.options, e.dump, e.pass]).toEqual([options, dump, pass]);
  });

  it.each([
    ["one field", "/dev/sdb1", 1, "expected at least 3 fields (source, mount point, type), found 1"],
    ["two fields", "  /dev/sdb1 /srv", 1, "expected at least 3 fields (source, mount point, type), found 2"],
    ["a word for dump", "/dev/sdb1 /srv/my data ext4 defaults 0 2", 1, 'the dump field (5th) must be a number, found "defaults"'],
    ["a letter O for zero in pass", "/dev/sdb1 /srv ext4 defaults 0 O", 1, 'the pass field (6th) must be a number, found "O"'],
    ["hex dump", "/dev/sdb1 /srv ext4 defaults 0x1 2", 1, 'the dump field (5th) must be a number, found "0x1"'],
  ])("refuses %s, as a parse error with the line, not a throw", (_name, line, lineNo, reason) => {
    const { entries, errors } = parseFstab(`# header\n${line}\n`);
    expect(entries).toEqual([]);
    expect(errors).toEqual([{ lineNo: lineNo + 1, raw: line, reason }]);
  });

  it("parses the good lines around a bad one", () => {
    const { entries, errors } = parseFstab("/dev/sda1 / ext4 defaults 0 1\ngarbage\n/dev/sdb1 /srv ext4 defaults 0 2\n");
    expect(entries.map((e) => e.lineNo)).toEqual([1, 3]);
    expect(errors.map((e) => e.lineNo)).toEqual([2]);
  });

  it("returns nothing for an empty file or only comments", () => {
    expect(parseFstab("")).toEqual({ entries: [], errors: [] });
    expect(parseFstab("# UNCONFIGURED FSTAB FOR BASE SYSTEM\n")).toEqual({ entries: [], errors: [] });
  });
});

describe("escapes", () => {
  it.each([
    ["/srv/my\\040data", "/srv/my data"],
    ["/srv/tab\\011here", "/srv/tab\there"],
    ["/srv/nl\\012here", "/srv/nl\nhere"],
    ["/srv/back\\134slash", "/srv/back\\slash"],
    ["/srv/caf\\303\\251", "/srv/café"],
    ["/srv/not\\08escape", "/srv/not\\08escape"],
    ["/srv/short\\04", "/srv/short\\04"],
    ["/srv/plain\\x", "/srv/plain\\x"],
  ])("unescapes %s", (field, decoded) => {
    expect(unescapeFstabField(field)).toBe(decoded);
  });

  it("decodes every field, options included", () => {
    const e = only("LABEL=my\\040data /srv/my\\040data ext4 x-systemd.requires-mounts-for=/a\\040b 0 2");
    expect([e.source, e.mountPoint, e.options]).toEqual(["LABEL=my data", "/srv/my data", ["x-systemd.requires-mounts-for=/a b"]]);
  });

  it.each([
    ["/srv/my data", false, "/srv/my\\040data"],
    ["a\tb\nc\\d", false, "a\\011b\\012c\\134d"],
    ["#odd", true, "\\043odd"],
    ["#odd", false, "#odd"],
  ])("escapes %j (first field: %s)", (value, first, escaped) => {
    expect(escapeFstabField(value, first)).toBe(escaped);
    expect(unescapeFstabField(escaped)).toBe(value);
  });
});

describe("sources", () => {
  it.each([
    ["UUID=3f1c-aa /srv ext4", "uuid", false, null],
    ['UUID="3f1c-aa" /srv ext4', "uuid", false, null],
    ["LABEL=data /srv ext4", "label", false, null],
    ["PARTUUID=0a1b-02 /srv ext4", "partuuid", false, null],
    ["PARTLABEL=data /srv ext4", "partlabel", false, null],
    ["/dev/disk/by-id/ata-X-part1 /srv ext4", "path", false, null],
    ["/dev/disk/by-uuid/3f1c /srv ext4", "path", false, null],
    ["uuid=3f1c /srv ext4", "path", false, null], // tag names are case-sensitive in libmount
    ["/dev/sdb1 /srv ext4", "path", false, null],
    ["/srv/a /srv/b none bind 0 0", "bind", false, null],
    ["/srv/a /srv/b none rbind,ro 0 0", "bind", false, null],
    ["nas01:/vmstore /srv/nas nfs defaults 0 0", "network", true, "nas01"],
    ["10.0.0.5:/vmstore /srv/nas nfs4 defaults 0 0", "network", true, "10.0.0.5"],
    ["[fd00::5]:/vmstore /srv/nas nfs defaults 0 0", "network", true, "fd00::5"],
    ["//nas02/share /srv/smb cifs credentials=/etc/smb.cred 0 0", "network", true, "nas02"],
    ["gluster1:/gv0 /srv/gv glusterfs defaults 0 0", "network", true, "gluster1"],
    ["gluster1:gv0 /srv/gv glusterfs defaults 0 0", "network", true, "gluster1"],
    ["mon1:6789,mon2:6789:/ /srv/ceph ceph name=admin 0 0", "network", true, "mon1"],
    ["backup@store1:/data /srv/sshfs fuse.sshfs defaults 0 0", "network", true, "store1"],
    ["mybucket /srv/s3 fuse.s3fs _netdev 0 0", "network", true, null],
    ["hostshare /srv/9p 9p trans=virtio 0 0", "network", true, null],
    ["proc /proc proc defaults 0 0", "pseudo", false, null],
    ["tmpfs /tmp tmpfs size=2G 0 0", "pseudo", false, null],
    ["devpts /dev/pts devpts gid=5 0 0", "pseudo", false, null],
    ["sysfs /sys sysfs defaults 0 0", "pseudo", false, null],
    ["UUID=5e2d none swap sw 0 0", "uuid", false, null],
    ["/swapfile none swap sw 0 0", "path", false, null],
  ])("%s", (line, kind, network, server) => {
    const e = only(line);
    expect([e.sourceKind, e.network, e.server]).toEqual([kind, network, server]);
  });

  it("marks swap and bind", () => {
    expect(only("UUID=5e2d none swap sw 0 0")).toMatchObject({ swap: true, bind: false, mountPoint: "none", fstype: "swap" });
    expect(only("/srv/a /srv/b none bind 0 0")).toMatchObject({ swap: false, bind: true, network: false });
    // A bind of an NFS path is a bind, not a network mount (its type is none).
    expect(only("/srv/nas/images /var/lib/libvirt/images none bind 0 0")).toMatchObject({ bind: true, network: false, server: null });
  });

  it("lists every server of a multi-server source", () => {
    expect(networkServers("mon1:6789,[fd00::2]:6789,10.0.0.3:/fs", "ceph")).toEqual(["mon1", "fd00::2", "10.0.0.3"]);
    expect(networkServers("sshfs#me@host2:/x", "fuse")).toEqual(["host2"]);
    expect(networkServers("remote:path", "fuse.rclone")).toEqual([]);
  });

  it("parses tags", () => {
    expect(parseSourceTag('LABEL="my data"')).toEqual({ tag: "LABEL", value: "my data" });
    expect(parseSourceTag("PARTUUID=0a1b-02")).toEqual({ tag: "PARTUUID", value: "0a1b-02" });
    expect(parseSourceTag("/dev/sda1")).toBeNull();
    expect(parseSourceTag("ID=x")).toBeNull();
  });

  it("reads options: bare, key=value, the last one winning", () => {
    const e = only("nas:/x /x nfs nofail,x-systemd.mount-timeout=10,x-systemd.mount-timeout=30 0 0");
    expect(fstabOption(e, "nofail")).toBe(true);
    expect(fstabOption(e, "x-systemd.mount-timeout")).toBe("30");
    expect(fstabOption(e, "_netdev")).toBeUndefined();
  });
});

describe("formatFstabLine", () => {
  it("changes only the given field and keeps the separators", () => {
    const e = only("UUID=9b1d\t/srv/data   xfs\tdefaults\t0 2");
    expect(formatFstabLine(e, { fstype: "ext4" })).toBe("UUID=9b1d\t/srv/data   ext4\tdefaults\t0 2");
  });

  it("keeps the columns after a changed field where they were, down to one space", () => {
    const e = only("nas01:/vmstore   /srv/nas   nfs   defaults   0 0");
    // 6 characters longer: three separators give up 2 each, and "0 0" is back in its column.
    expect(formatFstabLine(e, { source: "192.168.1.2:/vmstore" })).toBe("192.168.1.2:/vmstore /srv/nas nfs defaults   0 0");
    expect(formatFstabLine(e, { source: "n:/v" })).toBe("n:/v             /srv/nas   nfs   defaults   0 0");
    expect(formatFstabLine(e, ["defaults", "nofail"])).toBe("nas01:/vmstore   /srv/nas   nfs   defaults,nofail 0 0");
    // Tabs are left alone: they realign by themselves.
    const t = only("nas01:/vmstore\t/srv/nas\tnfs\tdefaults\t0 0");
    expect(formatFstabLine(t, { source: "192.168.1.2:/vmstore" })).toBe("192.168.1.2:/vmstore\t/srv/nas\tnfs\tdefaults\t0 0");
  });

  it("takes an options array", () => {
    const e = only("nas01:/vmstore /srv/nas nfs defaults 0 0");
    expect(formatFstabLine(e, [...e.options, "nofail", "_netdev"])).toBe("nas01:/vmstore /srv/nas nfs defaults,nofail,_netdev 0 0");
  });

  it("adds the options field when the line had none, without inventing dump and pass", () => {
    const e = only("nas01:/vmstore /srv/nas nfs");
    expect(formatFstabLine(e, ["nofail"])).toBe("nas01:/vmstore /srv/nas nfs nofail");
    expect(formatFstabLine(e, { pass: 0 })).toBe("nas01:/vmstore /srv/nas nfs defaults 0 0");
  });

  it("escapes changed fields and keeps unchanged ones as written", () => {
    const e = only("LABEL=my\\040data /srv/my\\040data xfs defaults 0 2");
    expect(formatFstabLine(e, { fstype: "ext4" })).toBe("LABEL=my\\040data /srv/my\\040data ext4 defaults 0 2");
    expect(formatFstabLine(e, { mountPoint: "/srv/new place" })).toBe("LABEL=my\\040data /srv/new\\040place xfs defaults 0 2");
  });

  it("keeps trailing fields mount ignores, and leading blanks", () => {
    const e = only("  /dev/sdb1 /srv xfs defaults 0 2  # data");
    expect(formatFstabLine(e, { fstype: "ext4" })).toBe("  /dev/sdb1 /srv ext4 defaults 0 2  # data");
  });

  it("writes empty options as defaults", () => {
    const e = only("/dev/sdb1 /srv ext4 noatime 0 2");
    expect(formatFstabLine(e, [])).toBe("/dev/sdb1 /srv ext4 defaults 0 2");
  });

  it("builds a whole line for an entry made by hand", () => {
    const e: FstabEntry = {
      lineNo: 0, raw: "", source: "#weird", mountPoint: "/srv/a b", fstype: "ext4", options: ["noatime"], dump: 0, pass: 2,
      sourceKind: "path", network: false, server: null, bind: false, swap: false,
    };
    expect(formatFstabLine(e)).toBe("\\043weird /srv/a\\040b ext4 noatime 0 2");
  });

  it.each([
    "UUID=9b1d /srv/data xfs defaults 0 2",
    "LABEL=my\\040data\t/srv/my\\040data ext4 noatime,x-systemd.device-timeout=10s 0 2",
    "[fd00::5]:/vmstore /srv/nas nfs4 nofail,_netdev 0 0",
    "/srv/a /srv/b none rbind",
  ])("round-trips %s", (line) => {
    const e = only(line);
    expect(formatFstabLine(e)).toBe(line);
    const changed = formatFstabLine(e, { mountPoint: "/mnt/x y", options: ["ro"] });
    expect(only(changed)).toMatchObject({ source: e.source, mountPoint: "/mnt/x y", fstype: e.fstype, options: ["ro"] });
  });
});

describe("suggestFstabLineFix", () => {
  it.each([
    ["/dev/sdb1 /srv/my data ext4 defaults 0 2", "/dev/sdb1 /srv/my\\040data ext4 defaults 0 2"],
    ["UUID=9b1d /srv/VM images here xfs noatime 0 2", "UUID=9b1d /srv/VM\\040images\\040here xfs noatime 0 2"],
    ["LABEL=my data /srv/data ext4 defaults 0 2", "LABEL=my\\040data /srv/data ext4 defaults 0 2"],
  ])("escapes the unescaped space in %s", (raw, fixed) => {
    const suggestion = suggestFstabLineFix(raw);
    expect(suggestion).toBe(fixed);
    expect(parseFstab(suggestion!).errors).toEqual([]);
  });

  it.each([
    "/dev/sdb1",
    "/dev/sdb1 /srv ext4 defaults 0 O",
    "/dev/sdb1 /srv/my data notafs defaults 0 2",
    "a b c d ext4 defaults 0 2",
  ])("has no fix for %s", (raw) => {
    expect(suggestFstabLineFix(raw)).toBeNull();
  });
});

describe("agreement with libmount", () => {
  it("parses a file of awkward lines exactly as findmnt --tab-file (util-linux's libmount) does", () => {
    const lines = [
      "# comment", "  # indented comment", "", "/dev/sdb1 /srv/a#b ext4 defaults 0 2", "/dev/sdb1 /srv2 ext4 defaults 0 2 # data disk",
      "LABEL=my\\040data /srv/my\\040data ext4 x-a=/a\\040b 0 2", "/dev/sdc1 /srv3 ext4", "/dev/sdc1 /srv4 ext4 noatime 1", "garbage",
      "/dev/sdb1 /srv/my data ext4 defaults 0 2", "/dev/sdb1 /srv5 ext4 defaults 0 O", "/dev/sdb1 /srv6 ext4 defaults 0x1 2",
      "/dev/sdb1 /srv/caf\\303\\251 ext4 defaults 0 2", "/dev/sdb1 /srv/not\\08esc ext4 defaults 0 2", 'UUID="abc" /q ext4 defaults -1 +2',
      "/dev/x\t/tabbed\txfs\tdefaults\t0\t0", "/dev/y /crlf ext4 defaults 0 1\r",
    ];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-fstab-"));
    try {
      const file = path.join(dir, "fstab");
      fs.writeFileSync(file, lines.join("\n") + "\n");
      const out = execFileSync("findmnt", ["--tab-file", file, "-J", "-o", "SOURCE,TARGET,FSTYPE,OPTIONS,FREQ,PASSNO"], { stdio: ["ignore", "pipe", "pipe"] });
      const libmount = (JSON.parse(out.toString("utf8")) as { filesystems: { source: string; target: string; fstype: string; options: string | null; freq: number; passno: number }[] })
        .filesystems.map((f) => [f.source, f.target, f.fstype, f.options ?? "", f.freq, f.passno]);
      const ours = parseFstab(fs.readFileSync(file, "utf8"));
      expect(ours.entries.map((e) => [e.source, e.mountPoint, e.fstype, e.options.join(","), e.dump, e.pass])).toEqual(libmount);
      expect(ours.errors.map((e) => e.lineNo)).toEqual([9, 10, 11, 12]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
