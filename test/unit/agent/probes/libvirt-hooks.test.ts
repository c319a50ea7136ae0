/**
 * libvirt hook scripts in a temporary root tree with real file modes and
 * symlinks (git keeps neither mode bits nor dangling links reliably, so the tree
 * is built here rather than kept under test/fixtures).
 */
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostRoot } from "../../../../agent/probes/host-root.js";
import { recordedCommands } from "../../../../agent/probes/recorded-commands.js";
import { collectHooks, realPathInRoot } from "../../../../agent/probes/libvirt-hooks.js";
import { ProbeSettingsSchema } from "../../../../agent/probes/settings.js";
import type { ProbeContext } from "../../../../agent/probes/types.js";

let dir: string;

function ctx(rootDir: string): ProbeContext {
  return {
    root: new HostRoot(rootDir), commands: recordedCommands(new HostRoot(rootDir)), settings: ProbeSettingsSchema.parse({}), libvirt: null,
    signal: new AbortController().signal, log: pino({ level: "silent" }), now: () => new Date(),
  };
}

async function file(root: string, hostPath: string, content: string | Buffer, mode: number): Promise<void> {
  const p = path.join(root, hostPath);
  await mkdir(path.dirname(p), { recursive: true });
  await writeFile(p, content);
  await chmod(p, mode);
}

async function link(root: string, hostPath: string, target: string): Promise<void> {
  await mkdir(path.dirname(path.join(root, hostPath)), { recursive: true });
  await symlink(target, path.join(root, hostPath));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "ns-hooks-"));
  const r = path.join(dir, "host");
  // Interpreters: /bin is an absolute symlink to /usr/bin, as on a merged-/usr host.
  await file(r, "/usr/bin/sh", "\x7fELF-stand-in", 0o755);
  await file(r, "/usr/bin/bash", "\x7fELF-stand-in", 0o755);
  await link(r, "/bin", "/usr/bin");
  const H = "/etc/libvirt/hooks";
  await file(r, `${H}/README`, "notes\n", 0o644);
  await file(r, `${H}/qemu`, "#!/bin/sh\nexit 0\n", 0o644);
  await link(r, `${H}/network`, "/opt/hooks/network");
  await file(r, "/opt/hooks/daemon", "#!/bin/bash\nexit 0\n", 0o755);
  await link(r, `${H}/daemon`, "/opt/hooks/daemon");
  await mkdir(path.join(r, `${H}/lxc`), { recursive: true });
  await file(r, `${H}/libxl.d`, "", 0o644);
  await file(r, `${H}/qemu.sh`, "#!/bin/sh\n", 0o755);
  await file(r, `${H}/qemu.d/10-ok`, "#!/bin/sh -e\nexit 0\n", 0o755);
  await file(r, `${H}/qemu.d/20-crlf`, "#!/bin/sh\r\nexit 0\r\n", 0o755);
  await file(r, `${H}/qemu.d/30-noshebang`, "echo hi\n", 0o755);
  await file(r, `${H}/qemu.d/40-python`, "#!/usr/bin/python3\n", 0o755);
  await file(r, `${H}/qemu.d/50-disabled`, "#!/bin/sh\n", 0o644);
  await file(r, `${H}/qemu.d/60-world`, "#!/bin/sh\n", 0o757);
  await file(r, `${H}/qemu.d/70-elf`, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), 0o755);
  await file(r, `${H}/qemu.d/lib/common.sh`, "x=1\n", 0o644);
  await mkdir(path.join(dir, "empty/etc/libvirt"), { recursive: true });
  await mkdir(path.join(dir, "none/etc"), { recursive: true });
});

afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe("realPathInRoot", () => {
  it("resolves absolute and relative links inside the root and never above it", async () => {
    const root = new HostRoot(path.join(dir, "host"));
    expect(await realPathInRoot(root, "/bin/sh")).toBe("/usr/bin/sh");
    expect(await realPathInRoot(root, "/etc/libvirt/hooks/daemon")).toBe("/opt/hooks/daemon");
    expect(await realPathInRoot(root, "/etc/libvirt/hooks/network")).toBeNull();
    expect(await realPathInRoot(root, "/../../bin/sh")).toBe("/usr/bin/sh");
  });
});

describe("collectHooks", () => {
  it("no /etc/libvirt: not applicable; no hooks directory: ok with nothing found", async () => {
    expect(await collectHooks(ctx(path.join(dir, "none")))).toEqual({ status: "not-applicable", detail: "no /etc/libvirt: libvirt is not installed", findings: [] });
    expect(await collectHooks(ctx(path.join(dir, "empty")))).toEqual({ status: "ok", detail: "no /etc/libvirt/hooks", findings: [] });
  });

  it("reports every hook libvirt would skip or fail to run, and nothing else", async () => {
    const out = await collectHooks(ctx(path.join(dir, "host")));
    expect(out.status).toBe("ok");
    expect(out.findings.map((f) => [f.code, f.severity, f.subject])).toEqual([
      ["NS_LIBVIRT_HOOK_NOT_FILE", "warning", "/etc/libvirt/hooks/libxl.d"],
      ["NS_LIBVIRT_HOOK_NOT_FILE", "warning", "/etc/libvirt/hooks/lxc"],
      ["NS_LIBVIRT_HOOK_BROKEN_LINK", "warning", "/etc/libvirt/hooks/network"],
      ["NS_LIBVIRT_HOOK_NOT_EXECUTABLE", "warning", "/etc/libvirt/hooks/qemu"],
      ["NS_LIBVIRT_HOOK_BAD_INTERPRETER", "critical", "/etc/libvirt/hooks/qemu.d/20-crlf"],
      ["NS_LIBVIRT_HOOK_BAD_INTERPRETER", "critical", "/etc/libvirt/hooks/qemu.d/30-noshebang"],
      ["NS_LIBVIRT_HOOK_BAD_INTERPRETER", "critical", "/etc/libvirt/hooks/qemu.d/40-python"],
      ["NS_LIBVIRT_HOOK_NOT_EXECUTABLE", "warning", "/etc/libvirt/hooks/qemu.d/50-disabled"],
      ["NS_LIBVIRT_HOOK_WORLD_WRITABLE", "warning", "/etc/libvirt/hooks/qemu.d/60-world"],
      ["NS_LIBVIRT_HOOK_UNKNOWN_NAME", "info", "/etc/libvirt/hooks/qemu.sh"],
    ]);
    const by = (subject: string) => out.findings.find((f) => f.subject === subject)!;
    expect(by("/etc/libvirt/hooks/qemu").message).toContain("not executable (mode 0644)");
    expect(by("/etc/libvirt/hooks/qemu").remedy).toMatch(/^chmod \+x \/etc\/libvirt\/hooks\/qemu, then reload the libvirt daemon/);
    expect(by("/etc/libvirt/hooks/network").message).toBe(
      "Hook /etc/libvirt/hooks/network is a symlink to /opt/hooks/network, which does not exist: libvirt skips it.");
    expect(by("/etc/libvirt/hooks/lxc").remedy).toContain("mv /etc/libvirt/hooks/lxc /etc/libvirt/hooks/lxc.d");
    expect(by("/etc/libvirt/hooks/qemu.d/20-crlf").message).toContain("ends in CR");
    expect(by("/etc/libvirt/hooks/qemu.d/30-noshebang").message).toContain("no #! line");
    expect(by("/etc/libvirt/hooks/qemu.d/40-python").message).toContain("interpreter /usr/bin/python3 does not exist");
    expect(by("/etc/libvirt/hooks/qemu.d/60-world").remedy).toBe("chmod o-w /etc/libvirt/hooks/qemu.d/60-world");
    // daemon (absolute link to a good script), 10-ok, 60-world, 70-elf run; lib/ is a helper directory.
    expect(out.detail).toBe("11 hook(s) checked, 4 runnable");
  });

  it("a world-writable hooks directory is reported", async () => {
    const r = path.join(dir, "ww");
    await file(r, "/etc/libvirt/hooks/qemu", "#!/bin/sh\n", 0o644);
    await chmod(path.join(r, "etc/libvirt/hooks"), 0o777);
    const out = await collectHooks(ctx(r));
    expect(out.findings.map((f) => [f.code, f.subject])).toEqual([
      ["NS_LIBVIRT_HOOK_WORLD_WRITABLE", "/etc/libvirt/hooks"],
      ["NS_LIBVIRT_HOOK_NOT_EXECUTABLE", "/etc/libvirt/hooks/qemu"],
    ]);
  });
});
