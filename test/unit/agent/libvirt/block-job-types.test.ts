import { describe, expect, it } from "vitest";
import { readBlockJobInfo, writeBlockCommitArgs } from "../../../../agent/libvirt/remote-types.js";
import { XdrReader, XdrWriter } from "../../../../agent/libvirt/xdr.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const dom = { name: "vm", uuid: "00112233-4455-6677-8899-aabbccddeeff", id: 3 };

describe("block job XDR", () => {
  it("encodes remote_domain_block_commit_args: domain, disk, optional base and top, bandwidth hyper, flags", () => {
    const w = new XdrWriter();
    writeBlockCommitArgs(w, dom, { disk: "vda", base: null, top: "/a", bandwidth: 0, flags: 5 });
    expect(w.toBuffer()).toEqual(hex(`
      00000002 766d0000 00112233 44556677 8899aabb ccddeeff 00000003
      00000003 76646100
      00000000
      00000001 00000002 2f610000
      00000000 00000000
      00000005`));
  });

  it("decodes remote_domain_get_block_job_info_ret, null when no job was found", () => {
    const found = new XdrReader(hex("00000001 00000004 0000000000000000 0000000000100000 0000000000100000"));
    expect(readBlockJobInfo(found)).toEqual({ type: 4, bandwidth: 0, cur: 0x100000, end: 0x100000 });
    found.end();
    const none = new XdrReader(hex("00000000 00000000 0000000000000000 0000000000000000 0000000000000000"));
    expect(readBlockJobInfo(none)).toBeNull();
    none.end();
  });
});
