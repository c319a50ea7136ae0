import { describe, expect, it } from "vitest";
import { LibvirtUriError, resolveUri } from "../../../../agent/libvirt/uri.js";

describe("resolveUri", () => {
  it.each([
    ["qemu:///system", "qemu:///system", "/var/run/libvirt/libvirt-sock"],
    ["test:///default", "test:///default", "/var/run/libvirt/libvirt-sock"],
    ["qemu+unix:///system?socket=/tmp/s", "qemu:///system", "/tmp/s"],
    ["qemu:///session?socket=/run/user/1/libvirt-sock&foo=bar", "qemu:///session?foo=bar", "/run/user/1/libvirt-sock"],
  ])("%s -> driver %s on %s", (uri, driverUri, socketPath) => {
    expect(resolveUri(uri)).toEqual({ driverUri, socketPath });
  });

  it("lets an explicit socket win over the URI's", () => {
    expect(resolveUri("qemu+unix:///system?socket=/a", "/b").socketPath).toBe("/b");
  });

  it.each([
    ["qemu+ssh://host/system", /transport 'ssh' is not supported/],
    ["qemu://otherhost/system", /remote host 'otherhost' is not supported/],
    ["not a uri", /expected driver\[\+unix\]:\/\//],
  ])("refuses %s with a reason", (uri, reason) => {
    expect(() => resolveUri(uri)).toThrow(LibvirtUriError);
    expect(() => resolveUri(uri)).toThrow(reason);
  });
});
