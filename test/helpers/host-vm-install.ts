/**
 * The agent installed into the hypervisor VM as README's "Installing" says an
 * operator installs it: /opt/nightshift with the built dist/, package.json and
 * the production node_modules (what `npm prune --omit=dev` keeps), Node.js 20
 * as /usr/bin/node (this machine's, which runs on Debian 12's libc),
 * systemd/nightshift-agent.service in /etc/systemd/system, and
 * /etc/nightshift/agent.yaml and agent.token (0600 in a 0700 directory).
 *
 * The files reach the VM on install media: an ext4 image made here with
 * `mkfs.ext4 -d` (no loop mount), attached read-only as vdb; the install
 * itself runs in the VM through the guest agent (`installAgent`).
 */
import fs from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { stringify as toYaml } from "yaml";
import type { HostVm } from "./host-vm.js";
import { run } from "./host-vm.js";
import { REPO_ROOT } from "./run.js";

/** The packages `npm prune --omit=dev` keeps: the dependencies' closure, as node would resolve them. */
export function productionPackages(root = REPO_ROOT): string[] {
  const found = new Set<string>();
  const visit = (fromDir: string, name: string) => {
    // Resolution as node does it: node_modules of this package, then of each parent.
    for (let dir = fromDir; ; dir = path.dirname(dir)) {
      const candidate = path.join(dir, "node_modules", name);
      if (existsSync(path.join(candidate, "package.json"))) {
        const rel = path.relative(root, candidate);
        if (found.has(rel)) return;
        found.add(rel);
        const pkg = JSON.parse(readFileSync(path.join(candidate, "package.json"), "utf8")) as {
          dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>;
        };
        for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) visit(candidate, dep);
        return;
      }
      if (dir === root || dir === path.dirname(dir)) {
        return; // an optional dependency not installed on this platform
      }
    }
  };
  const top = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  for (const dep of Object.keys(top.dependencies)) visit(root, dep);
  return [...found].sort();
}

export interface InstallMediaOptions {
  /** The ext4 image to write. */
  file: string;
  /** Contents of /etc/nightshift/agent.yaml. */
  agentConfig: Record<string, unknown>;
  /** The host's token from POST /v1/hosts (`nightshift hosts enroll`). */
  token: string;
  /** Scratch directory (removed afterwards). */
  workDir: string;
}

/** Writes the install media; ~230 MB, a few seconds. */
export async function makeInstallMedia(o: InstallMediaOptions): Promise<void> {
  if (!existsSync(path.join(REPO_ROOT, "dist/agent/cli/main.js"))) throw new Error("dist/ missing: run npm run build");
  const stage = path.join(o.workDir, "media");
  const opt = path.join(stage, "opt/nightshift");
  await fs.rm(stage, { recursive: true, force: true });
  await fs.mkdir(path.join(opt, "node_modules"), { recursive: true });
  for (const entry of ["dist", "systemd", "package.json", "README.md"]) {
    await fs.cp(path.join(REPO_ROOT, entry), path.join(opt, entry), { recursive: true, dereference: true });
  }
  for (const pkg of productionPackages()) {
    await fs.cp(path.join(REPO_ROOT, pkg), path.join(opt, pkg), { recursive: true, dereference: true });
  }
  await fs.copyFile(await fs.realpath(process.execPath), path.join(stage, "node"));
  await fs.writeFile(path.join(stage, "agent.yaml"), toYaml(o.agentConfig));
  await fs.writeFile(path.join(stage, "agent.token"), `${o.token}\n`, { mode: 0o600 });
  const sizeMiB = Math.ceil(Number((await run("du", ["-sm", stage])).split("\t")[0]) * 1.3) + 32;
  await fs.rm(o.file, { force: true });
  await run("truncate", ["-s", `${sizeMiB}M`, o.file]);
  await run("mkfs.ext4", ["-q", "-F", "-L", "nsinstall", "-d", stage, o.file], 120_000);
  await fs.rm(stage, { recursive: true, force: true });
}

/**
 * README's install steps, in the VM: the code, node, the unit, the config and
 * the token; `systemctl daemon-reload` and `enable` (not --now: the caller
 * starts it and watches what start does).
 */
export async function installAgent(vm: HostVm): Promise<void> {
  await vm.sh([
    "set -e",
    "mkdir -p /mnt/install && mount -o ro /dev/vdb /mnt/install",
    "mkdir -p /opt && cp -a /mnt/install/opt/nightshift /opt/",
    "install -m 0755 /mnt/install/node /usr/bin/node",
    "install -m 0644 /opt/nightshift/systemd/nightshift-agent.service /etc/systemd/system/nightshift-agent.service",
    "install -m 0644 /opt/nightshift/systemd/nightshift-emergency-report.service /etc/systemd/system/nightshift-emergency-report.service",
    "systemctl daemon-reload && systemctl enable nightshift-emergency-report.service",
    "mkdir -p -m 0700 /etc/nightshift",
    "(umask 077 && cat /mnt/install/agent.token > /etc/nightshift/agent.token)",
    "install -m 0644 /mnt/install/agent.yaml /etc/nightshift/agent.yaml",
    "umount /mnt/install",
    "systemctl daemon-reload",
    "systemctl enable nightshift-agent.service",
    "sync",
  ].join("\n"), 180_000);
}
