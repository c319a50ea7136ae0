/**
 * Probe "libvirt-hooks": hook scripts libvirt would skip or fail to run.
 *
 * libvirt (src/util/virhook.c) runs /etc/libvirt/hooks/<driver> and then every
 * executable entry of /etc/libvirt/hooks/<driver>.d/ in name order, for the drivers
 * daemon, qemu, lxc, network, libxl and bhyve. A hook that is not a regular
 * executable file (after following symlinks) is skipped with nothing but a line in
 * libvirt's log; a hook that cannot be executed (no `#!` line, a `#!` interpreter
 * that does not exist, a CRLF line ending) makes the call fail, and a failed qemu
 * "prepare"/"start" hook stops the VM from starting. libvirt looks for hooks only when
 * its daemon starts or reloads, so a fix needs a reload.
 *
 * Symlinks are followed inside ctx.root (an absolute link target is taken relative
 * to the root), so fixture trees behave like the host.
 */
import { lstat, open, readdir, readlink, stat } from "node:fs/promises";
import path from "node:path";
import type { HostRoot } from "./host-root.js";
import type { Probe, ProbeContext, ProbeFinding, ProbeOutput } from "./types.js";

export const HOOKS_DIR = "/etc/libvirt/hooks";
export const HOOK_DRIVERS = ["daemon", "qemu", "lxc", "network", "libxl", "bhyve"] as const;

const RELOAD = "reload the libvirt daemon (`systemctl reload libvirtd`, or virtqemud with modular daemons): libvirt looks for hooks only at start and reload";

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/**
 * The host path `hostPath` finally names, with every symlink resolved inside the
 * root; null when a component is missing or the links loop.
 */
export async function realPathInRoot(root: HostRoot, hostPath: string): Promise<string | null> {
  let pending = hostPath.split("/").filter(Boolean);
  let cur = "/";
  let links = 0;
  while (pending.length > 0) {
    const comp = pending.shift()!;
    if (comp === ".") continue;
    if (comp === "..") {
      cur = path.posix.dirname(cur);
      continue;
    }
    const next = path.posix.join(cur, comp);
    let st;
    try {
      st = await lstat(root.path(next));
    } catch (err) {
      if (["ENOENT", "ENOTDIR", "ELOOP"].includes(errnoOf(err) ?? "")) return null;
      throw err;
    }
    if (st.isSymbolicLink()) {
      if (++links > 40) return null;
      const target = await readlink(root.path(next));
      if (target.startsWith("/")) cur = "/";
      pending = [...target.split("/").filter(Boolean), ...pending];
      continue;
    }
    cur = next;
  }
  return cur;
}

/** Why an executable file would fail in execve(), or null when it would run. */
export async function interpreterProblem(root: HostRoot, realPath: string): Promise<string | null> {
  const fh = await open(root.path(realPath), "r");
  let head: Buffer;
  try {
    const buf = Buffer.alloc(256);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  if (head.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) return null; // ELF
  if (head.length === 0) return "it is empty: execve() fails with \"Exec format error\"";
  if (head.subarray(0, 2).toString("latin1") !== "#!") return "it has no #! line: execve() fails with \"Exec format error\"";
  const nl = head.indexOf(0x0a);
  const line = head.subarray(2, nl >= 0 ? nl : head.length).toString("utf8");
  if (line.endsWith("\r")) return "its #! line ends in CR (DOS line endings): the kernel looks for an interpreter whose name ends in \\r";
  const interpreter = line.trim().split(/[ \t]+/)[0] ?? "";
  if (!interpreter.startsWith("/")) return `its #! line names no absolute interpreter ("${line.trim().slice(0, 80)}")`;
  const real = await realPathInRoot(root, interpreter);
  if (real === null) return `its interpreter ${interpreter} does not exist`;
  const st = await stat(root.path(real));
  if (!st.isFile() || (st.mode & 0o111) === 0) return `its interpreter ${interpreter} is not an executable file`;
  return null;
}

type Role = "hook" | "hook.d entry";

/** "runs": libvirt would run it; "broken": a finding was made; "ignored": not a hook (a helper directory in <driver>.d). */
type Verdict = "runs" | "broken" | "ignored";

async function checkScript(root: HostRoot, hostPath: string, role: Role, findings: ProbeFinding[]): Promise<Verdict> {
  const own = await lstat(root.path(hostPath));
  const real = await realPathInRoot(root, hostPath);
  if (real === null) {
    const target = own.isSymbolicLink() ? await readlink(root.path(hostPath)) : "?";
    findings.push({
      code: "NS_LIBVIRT_HOOK_BROKEN_LINK", severity: "warning", subject: hostPath,
      message: `Hook ${hostPath} is a symlink to ${target}, which does not exist: libvirt skips it.`,
      remedy: `Point it at the script (\`ln -sfn TARGET ${hostPath}\`) or remove it, then ${RELOAD}.`,
    });
    return "broken";
  }
  const st = await stat(root.path(real));
  const via = real === hostPath ? "" : ` (via ${real})`;
  if (!st.isFile()) {
    // A subdirectory inside <driver>.d is skipped by libvirt and commonly holds helpers: not reported.
    if (role === "hook.d entry") return "ignored";
    findings.push({
      code: "NS_LIBVIRT_HOOK_NOT_FILE", severity: "warning", subject: hostPath,
      message: `Hook ${hostPath}${via} is a ${st.isDirectory() ? "directory" : "special file"}, not a script: libvirt skips it`
        + (st.isDirectory() ? ` (scripts in a directory belong in ${hostPath}.d/).` : "."),
      remedy: st.isDirectory()
        ? `Move it: \`mv ${hostPath} ${hostPath}.d\` (each executable file in it is run), then ${RELOAD}.`
        : `Replace it by an executable script, then ${RELOAD}.`,
    });
    return "broken";
  }
  if ((st.mode & 0o002) !== 0) {
    findings.push({
      code: "NS_LIBVIRT_HOOK_WORLD_WRITABLE", severity: "warning", subject: hostPath,
      message: `Hook ${hostPath}${via} is writable by every user, and libvirt runs it as root.`,
      remedy: `chmod o-w ${real}`,
    });
  }
  if ((st.mode & 0o111) === 0) {
    findings.push({
      code: "NS_LIBVIRT_HOOK_NOT_EXECUTABLE", severity: "warning", subject: hostPath,
      message: `Hook ${hostPath}${via} exists but is not executable (mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")}): libvirt skips it silently, so what it should do on VM start or stop does not happen.`,
      remedy: `chmod +x ${hostPath}, then ${RELOAD}.`,
    });
    return "broken";
  }
  const problem = await interpreterProblem(root, real);
  if (problem) {
    findings.push({
      code: "NS_LIBVIRT_HOOK_BAD_INTERPRETER", severity: "critical", subject: hostPath,
      message: `Hook ${hostPath}${via} is executable but cannot run: ${problem}. Every call of it fails; a failing qemu prepare/start hook stops VMs from starting.`,
      remedy: `Fix its first line (e.g. \`#!/bin/sh\`, Unix line endings: \`sed -i 's/\\r$//' ${real}\`) and test it by hand.`,
    });
    return "broken";
  }
  return "runs";
}

async function isDir(p: string): Promise<boolean | null> {
  try {
    return (await stat(p)).isDirectory();
  } catch (err) {
    if (["ENOENT", "ENOTDIR", "ELOOP"].includes(errnoOf(err) ?? "")) return null;
    throw err;
  }
}

function checkDirWritable(mode: number, hostPath: string, findings: ProbeFinding[]): void {
  if ((mode & 0o002) === 0) return;
  findings.push({
    code: "NS_LIBVIRT_HOOK_WORLD_WRITABLE", severity: "warning", subject: hostPath,
    message: `Hook directory ${hostPath} is writable by every user: anyone can add a script that libvirt runs as root.`,
    remedy: `chmod o-w ${hostPath}`,
  });
}

export async function collectHooks(ctx: ProbeContext): Promise<ProbeOutput> {
  const { root } = ctx;
  if (!(await isDir(root.path("/etc/libvirt")))) {
    return { status: "not-applicable", detail: "no /etc/libvirt: libvirt is not installed", findings: [] };
  }
  const hooksReal = await realPathInRoot(root, HOOKS_DIR);
  if (hooksReal === null || !(await isDir(root.path(hooksReal)))) {
    return { status: "ok", detail: `no ${HOOKS_DIR}`, findings: [] };
  }
  const findings: ProbeFinding[] = [];
  checkDirWritable((await stat(root.path(hooksReal))).mode, HOOKS_DIR, findings);
  const entries = (await readdir(root.path(hooksReal))).sort();
  let checked = 0;
  let runnable = 0;
  const count = (v: Verdict) => {
    if (v !== "ignored") checked++;
    if (v === "runs") runnable++;
  };
  for (const name of entries) {
    ctx.signal.throwIfAborted();
    const hostPath = `${HOOKS_DIR}/${name}`;
    const driver = HOOK_DRIVERS.find((d) => name === d || name === `${d}.d`);
    if (driver === undefined) {
      const misnamed = HOOK_DRIVERS.find((d) => new RegExp(`^${d}\\.(sh|bash|py|pl|rb|hook)$`).test(name));
      if (misnamed) {
        findings.push({
          code: "NS_LIBVIRT_HOOK_UNKNOWN_NAME", severity: "info", subject: hostPath,
          message: `${hostPath} looks like a ${misnamed} hook, but libvirt runs only ${HOOKS_DIR}/${misnamed} and the files in ${HOOKS_DIR}/${misnamed}.d/.`,
          remedy: `If it is meant as a hook: \`mv ${hostPath} ${HOOKS_DIR}/${misnamed}.d/\`, then ${RELOAD}.`,
        });
      }
      continue;
    }
    if (name === driver) {
      count(await checkScript(root, hostPath, "hook", findings));
      continue;
    }
    // <driver>.d
    const real = await realPathInRoot(root, hostPath);
    const dir = real === null ? null : await isDir(root.path(real));
    if (!dir) {
      findings.push({
        code: "NS_LIBVIRT_HOOK_NOT_FILE", severity: "warning", subject: hostPath,
        message: real === null
          ? `${hostPath} is a symlink to nothing: libvirt finds no ${driver} hooks there.`
          : `${hostPath} is not a directory: libvirt finds no ${driver} hooks there.`,
        remedy: `Make ${hostPath} a directory holding the executable hook scripts, then ${RELOAD}.`,
      });
      continue;
    }
    checkDirWritable((await stat(root.path(real!))).mode, hostPath, findings);
    for (const entry of (await readdir(root.path(real!))).sort()) count(await checkScript(root, `${hostPath}/${entry}`, "hook.d entry", findings));
  }
  return { status: "ok", detail: `${checked} hook(s) checked, ${runnable} runnable`, findings };
}

export const libvirtHooksProbe: Probe = {
  name: "libvirt-hooks",
  description: "libvirt hook scripts that libvirt would skip (not executable, broken link) or fail to run",
  defaultEnabled: true,
  collect: collectHooks,
};
