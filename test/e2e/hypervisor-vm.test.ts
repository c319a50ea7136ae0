/**
 * The agent on a real systemd hypervisor: the VM of test/hostvm/build-host.sh
 * (Debian 12, systemd as PID 1, persistent journal, on the test bridge),
 * booted under TCG, with the agent installed as README says and started by
 * the real unit from systemd/, against a controller process on this machine
 * listening on the bridge.
 *
 * One VM, the tests in order, each reusing the boots before it:
 * 1. install + `systemctl start`: Type=notify reaches `active` only once the
 *    agent is connected; the systemd probe's live paths answer;
 * 2. (a) a good reboot: the agent comes back by itself, the boot id changes,
 *    no new finding;
 * 3. (b) /dev/vdc (ext4) declared xfs in fstab, reboot: the boot stops in
 *    emergency mode (the image's marker on the serial console, and
 *    emergency.target active through the rig's guest agent);
 * 4. (c) fstab repaired from emergency mode, reboot: the agent reports
 *    NS_BOOT_PREVIOUS_EMERGENCY for the previous boot.
 *
 * The VM has no libvirtd: the agent's libvirt link is "unreachable" all along
 * (finding NS_LIBVIRT_UNREACHABLE), which says nothing about systemd.
 *
 * Without the image (test/hostvm/build-host.sh, ~2-5 min) the tests skip;
 * `npm run test:host-rig` builds it and runs them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { LibvirtConnection } from "../../agent/libvirt/connection.js";
import type { FindingRecord, HostRecord } from "../../shared/api.js";
import { startController, type TestController } from "../helpers/controller.js";
import { controllerApi } from "../helpers/controller-api.js";
import { GUEST_IMAGES_DIR } from "../helpers/guest.js";
import { ensureTestBridge, guestAddressPool } from "../helpers/guest-network.js";
import { EMERGENCY_MARKER, HostVm, hostVmBuilt } from "../helpers/host-vm.js";
import { installAgent, makeInstallMedia } from "../helpers/host-vm-install.js";
import { pollFor } from "../helpers/poll.js";

const BUILT = hostVmBuilt();
if (!BUILT) {
  console.warn("hypervisor-vm: skipped: no hypervisor VM image in test/hostvm/cache (build it: test/hostvm/build-host.sh, "
    + "or run `npm run test:host-rig`)");
}

const HOST = `hostvm-${randomBytes(3).toString("hex")}`;
const VM_NAME = `nstest-${HOST}`;
const BOOT_TIMEOUT_MS = 150_000;
/**
 * Findings this VM has whatever its boot did: it runs no libvirtd, and its fstab mounts root
 * by the kernel name /dev/vda (a true warning about the rig's image, not about a boot).
 */
const EXPECTED = new Set(["NS_LIBVIRT_UNREACHABLE", "NS_FSTAB_UNSTABLE_DEVICE_NAME"]);

const pool = guestAddressPool();
let netconsolePort: number;
let vmAddress: string;
let controllerAddress: string;

/** A UDP port free on `address` now (the controller binds it a moment later). */
async function freeUdpPort(address: string): Promise<number> {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}
let controller: TestController;
let conn: LibvirtConnection;
let vm: HostVm;
let workDir: string;
let media: string;
const { ok } = controllerApi(() => controller);
const timings: Record<string, number> = {};

const hostRecord = async () => (await ok<HostRecord[]>("GET", "/v1/hosts")).find((h) => h.name === HOST);
const findings = () => ok<FindingRecord[]>("GET", `/v1/findings?host=${HOST}`);
const seconds = (ms: number) => Math.round(ms / 100) / 10;

async function diagnostics(): Promise<string> {
  const journal = await vm.exec("systemctl status --no-pager nightshift-agent; journalctl -b --no-pager -n 80 -u nightshift-agent; "
    + "systemctl --failed --no-pager", 20_000)
    .then((r) => r.stdout + r.stderr).catch((e: unknown) => String(e));
  return `--- agent journal ---\n${journal}\n--- console (end) ---\n${(await vm.console.read()).slice(-3000)}\n`
    + `--- controller log (end) ---\n${controller.logs().slice(-2000)}`;
}

/** The agent connected after `sinceMs` (its session is newer than that moment). */
async function waitForAgentBack(sinceMs: number): Promise<HostRecord> {
  return pollFor(async () => {
    const h = await hostRecord();
    return h?.connected && h.lastSeenAt && Date.parse(h.lastSeenAt) > sinceMs ? h : null;
  }, `host ${HOST} connected again`, BOOT_TIMEOUT_MS, 500).catch(async (e: unknown) => {
    throw new Error(`${String(e)}\n${await diagnostics()}`);
  });
}

describe.skipIf(!BUILT)("the agent on a real systemd hypervisor VM", () => {
  beforeAll(async () => {
    const bridge = await ensureTestBridge();
    const address = await pool.take();
    vmAddress = address.cidr.split("/")[0]!;
    controllerAddress = bridge.hostAddress;
    netconsolePort = await freeUdpPort(bridge.hostAddress);
    controller = await startController({ host: bridge.hostAddress, config: {
      agents: { heartbeat: "2s" }, netconsole: { listen: `${bridge.hostAddress}:${netconsolePort}` },
    } });
    const { token } = await ok<{ token: string }>("POST", "/v1/hosts", { name: HOST }, 201);
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), "nightshift-hostvm-"));
    media = path.join(GUEST_IMAGES_DIR, `${VM_NAME}.install.raw`);
    await fs.mkdir(GUEST_IMAGES_DIR, { recursive: true });
    await makeInstallMedia({ file: media, workDir, token, agentConfig: { controller: controller.agentUrl, host: HOST } });
    conn = await LibvirtConnection.open({ uri: "qemu:///system" });
    const started = Date.now();
    vm = await HostVm.start(conn, {
      name: VM_NAME, installMedia: media,
      network: { bridge: bridge.name, address: address.cidr, gateway: bridge.hostAddress },
    });
    await vm.waitForGuestAgent(BOOT_TIMEOUT_MS);
    timings.bootToGuestAgent = Date.now() - started;
    const state = await vm.systemState();
    timings.bootToSettled = Date.now() - started;
    if (state !== "running") throw new Error(`the fresh VM is ${state}, not running\n${await diagnostics()}`);
  }, 300_000);

  afterAll(async () => {
    console.log(`hypervisor-vm timings (s): ${JSON.stringify(Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, seconds(v)])))}`);
    // NIGHTSHIFT_HOSTVM_KEEP=1 leaves the VM running to look at (virsh console, guest agent).
    if (!process.env.NIGHTSHIFT_HOSTVM_KEEP) await vm?.remove();
    await conn?.connectClose().catch(() => undefined);
    await controller?.stop();
    await pool.releaseAll();
    if (media) await fs.rm(media, { force: true });
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  it("installed as README says, the unit reaches active only once the agent is connected to the controller", async () => {
    await installAgent(vm);
    expect(await hostRecord()).toMatchObject({ connected: false });
    const started = Date.now();
    // Type=notify: `systemctl start` returns once the agent said READY=1.
    const start = await vm.exec("systemctl start nightshift-agent.service", 120_000);
    timings.agentStart = Date.now() - started;
    expect(start.exitCode, await diagnostics()).toBe(0);
    // Read right after start returned: READY=1 came after the controller's welcome.
    expect(await hostRecord()).toMatchObject({ connected: true, hostname: "nshost" });
    const show = await vm.sh("systemctl show -p ActiveState -p SubState -p Type -p NotifyAccess -p WatchdogUSec -p NRestarts -p StatusText nightshift-agent");
    expect(show).toContain("ActiveState=active");
    expect(show).toContain("SubState=running");
    expect(show).toContain("Type=notify");
    expect(show).toContain("NRestarts=0");
    expect(show).toMatch(/StatusText=.*connected to controller ws:\/\/10\./);
    // Every notification reached systemd (none dropped for an unknown sender).
    const journal = await vm.sh("journalctl -b --no-pager -o cat _PID=1 | grep -c 'Cannot find unit for notify message' || true");
    expect(journal).toBe("0");
    // The systemd probe ran live on connect: a running host with a first boot has nothing to say.
    const open = await pollFor(async () => {
      const f = await findings();
      return f.some((x) => x.probe === "fstab") ? f : null;
    }, "the first findings stored", 60_000, 500);
    expect(open.map((f) => f.code).filter((c) => !EXPECTED.has(c))).toEqual([]);
    // The controller listens for netconsole: the agent, in its sandbox, pointed the next boot's
    // netconsole at it along its own connection (the bridge is on-link: the controller's own MAC).
    const bridgeMac = (await fs.readFile(`/sys/class/net/${(await ensureTestBridge()).name}/address`, "utf8")).trim();
    const conf = await vm.sh("cat /etc/modprobe.d/nightshift-netconsole.conf");
    expect(conf).toContain(`options netconsole netconsole=6665@${vmAddress}/eth0,${netconsolePort}@${controllerAddress}/${bridgeMac}`);
  }, 180_000);

  it("(a) a good reboot: the agent comes back under its unit, the boot id changes, nothing new is found", async () => {
    const bootBefore = await vm.bootId();
    const before = await findings();
    const askedAt = await vm.reboot();
    const bootAfter = await vm.waitForNewBoot(bootBefore, BOOT_TIMEOUT_MS);
    timings.rebootToGuestAgent = Date.now() - askedAt;
    expect(bootAfter).not.toBe(bootBefore);
    await waitForAgentBack(askedAt);
    timings.rebootToAgentConnected = Date.now() - askedAt;
    // Started at boot by the real unit: active (READY=1 received), no restart.
    // The controller counts the agent connected at its hello; READY=1 follows a moment later.
    const show = await pollFor(async () => {
      const text = await vm.sh("systemctl show -p ActiveState -p SubState -p NRestarts nightshift-agent");
      return text.includes("ActiveState=activating") ? null : text;
    }, "the agent's unit past activating", 30_000, 500);
    expect(show, await diagnostics()).toContain("ActiveState=active");
    expect(show).toContain("NRestarts=0");
    expect(await vm.systemState()).toBe("running");
    // Probes run on every connect: give them the time of one run, then nothing may be new.
    await new Promise((r) => setTimeout(r, 10_000));
    // Nothing that alerts (warning, critical) is new. An info finding may be: the agent's probes run
    // on connect, which can be before the boot finished (NS_SYSTEMD_STARTING until the next run).
    const alerting = (list: FindingRecord[]) => list.filter((f) => f.severity !== "info").map((f) => f.code).sort();
    expect(alerting(await findings())).toEqual(alerting(before));
  }, 240_000);

  it("(b) an ext4 disk declared xfs in fstab: the reboot stops in emergency mode", async () => {
    await vm.sh("mkdir -p /srv/data && echo '/dev/vdc /srv/data xfs defaults 0 2' >> /etc/fstab && sync");
    // Before the reboot, the agent in its sandbox predicts it (probes run on every connect).
    const restartedAt = Date.now();
    await vm.sh("systemctl restart nightshift-agent", 120_000);
    const mismatch = await pollFor(async () => (await findings()).find((f) => f.code === "NS_FSTAB_TYPE_MISMATCH" && Date.parse(f.lastSeenAt) >= restartedAt - 5_000),
      "NS_FSTAB_TYPE_MISMATCH stored", 60_000, 500).catch(async (e: unknown) => {
      throw new Error(`${String(e)}\nfindings: ${JSON.stringify(await findings())}`);
    });
    expect(mismatch).toMatchObject({ severity: "critical", subject: "/srv/data" });
    expect(mismatch.message).toContain("declared xfs but /dev/vdc holds ext4");
    const bootBefore = await vm.bootId();
    const mark = await vm.console.mark();
    const askedAt = await vm.reboot();
    const marker = await vm.console.waitFor(EMERGENCY_MARKER, mark, BOOT_TIMEOUT_MS);
    const emergencyAt = Date.now();
    timings.rebootToEmergency = emergencyAt - askedAt;
    // The controller hears it from the kernel (netconsole), the agent not running.
    const inEmergency = await pollFor(async () => { const h = await hostRecord(); return h?.emergency ? h : null; },
      "the controller shows the host in emergency", 60_000, 200).catch(async (e: unknown) => {
      throw new Error(`${String(e)}\nconsole: ${(await vm.console.read(mark)).slice(-3000)}\ncontroller: ${controller.logs().slice(-2000)}`);
    });
    timings.emergencyTargetToController = Date.now() - emergencyAt;
    timings.rebootToControllerEmergency = Date.now() - askedAt;
    expect(inEmergency.connected).toBe(false);
    expect(inEmergency.emergency).toMatchObject({ target: "emergency.target", boot: marker[2] });
    expect(inEmergency.emergency!.failedUnits).toContain("srv-data.mount");
    const emergencyFinding = await pollFor(async () => (await findings()).find((f) => f.code === "NS_HOST_EMERGENCY" && f.message.includes("fstab:")),
      "NS_HOST_EMERGENCY with the fstab line", 60_000, 500);
    expect(emergencyFinding).toMatchObject({ severity: "critical", subject: "emergency.target" });
    expect(emergencyFinding.message).toContain("srv-data.mount: /dev/vdc /srv/data xfs defaults 0 2");
    const lines = await ok<{ text: string }[]>("GET", `/v1/hosts/${HOST}/console`);
    expect(lines.some((l) => l.text.includes("nightshift-emergency: v1 host=" + HOST))).toBe(true);
    expect(marker[2]).not.toBe(bootBefore);
    // The rig's guest agent (no default dependencies) answers in emergency mode.
    await vm.waitForGuestAgent(60_000);
    expect(await vm.bootId()).toBe(marker[2]);
    expect((await vm.exec("systemctl is-active emergency.target")).stdout.trim()).toBe("active");
    expect((await vm.exec("systemctl is-failed srv-data.mount")).stdout.trim()).toBe("failed");
    // The whole console of this boot, for the record: systemd says why.
    const console = await vm.console.read(mark);
    expect(console).toMatch(/emergency mode/i);
  }, 240_000);

  it("(c) repaired and rebooted: the agent reports that the previous boot entered emergency mode", async () => {
    const bootBefore = await vm.bootId();
    await vm.sh("sed -i 's#^/dev/vdc /srv/data xfs#/dev/vdc /srv/data ext4#' /etc/fstab && sync");
    const askedAt = await vm.reboot();
    await vm.waitForNewBoot(bootBefore, BOOT_TIMEOUT_MS);
    await waitForAgentBack(askedAt);
    timings.repairRebootToAgentConnected = Date.now() - askedAt;
    expect(await vm.sh("findmnt -n -o FSTYPE /srv/data")).toBe("ext4");
    const finding = await pollFor(async () => (await findings()).find((f) => f.code === "NS_BOOT_PREVIOUS_EMERGENCY" && !f.resolvedAt),
      "NS_BOOT_PREVIOUS_EMERGENCY stored", 60_000, 500).catch(async (e: unknown) => {
      throw new Error(`${String(e)}\nfindings: ${JSON.stringify(await findings())}\n${await diagnostics()}`);
    });
    timings.repairRebootToFinding = Date.now() - askedAt;
    // The agent's hello ended the emergency state the console had reported.
    expect((await hostRecord())?.emergency).toBeNull();
    expect((await findings()).filter((f) => f.code === "NS_HOST_EMERGENCY")).toEqual([]);
    expect(finding).toMatchObject({ severity: "warning", subject: "previous-boot", source: "agent" });
    expect(finding.message).toMatch(/previous boot entered emergency mode \(emergency\.(target|service) at /);
    expect(finding.message).toContain("srv-data.mount");
  }, 240_000);
});
