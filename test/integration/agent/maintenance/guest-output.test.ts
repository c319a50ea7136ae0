/**
 * Guest commands with much more output than a step result can carry, against
 * the real libvirtd and one real QEMU guest (busybox + qemu-ga): libvirt
 * refuses a guest agent reply above 10 MiB ("No complete agent response found
 * in 10485760 bytes"), and qemu-ga hands a finished command's whole output
 * (up to 16 MiB per stream, base64) in one reply. The output is bounded in the
 * guest, so the command's exit code decides, whatever it printed.
 */
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { pino } from "pino";
import { LibvirtConnection } from "../../../../agent/libvirt/connection.js";
import { STEP_HANDLERS } from "../../../../agent/maintenance/actions/index.js";
import { MAX_STREAM_BYTES } from "../../../../agent/maintenance/output-cap.js";
import { StepExecutor } from "../../../../agent/maintenance/step-executor.js";
import {
  ensureGuestBuilt, guestConsoleLogPath, guestDomainXml, prepareGuestDisk, readGuestConsoleLog, removeGuestDisk,
} from "../../../helpers/guest.js";
import { removeDomainsWithPrefix, testPrefix } from "../../../helpers/libvirt.js";
import { stepRunner } from "../../../helpers/steps.js";

const prefix = testPrefix("output");
const name = `${prefix}g1`;
const MB20 = 20_000_000;
/**
 * 20 MB of 'x' on stdout (no newline), then exit `code`. "done" on stderr only if tr wrote all of it: a cut that closed
 * the pipe early would kill tr with SIGPIPE (the pipeline's status, 141), and a patch with it.
 */
const loud = (code: number) => `head -c ${MB20} /dev/zero | tr '\\0' x && echo done >&2; exit ${code}`;
/** 20 MB on stderr, a short line on stdout. */
const LOUD_STDERR = `echo start; head -c ${MB20} /dev/zero | tr '\\0' e >&2 && echo done; exit 0`;
/** Output that fits is passed whole, exit code and all, byte for byte (no trailing newline added or lost). */
const QUIET = "printf 'a\\nb'; printf 'warn' >&2; exit 7";

let conn: LibvirtConnection;
let diskPath: string;
let steps: StepExecutor;
const { ok } = stepRunner(() => steps);

beforeAll(async () => {
  const artifacts = await ensureGuestBuilt();
  conn = await LibvirtConnection.open({ uri: "qemu:///system" });
  steps = new StepExecutor({
    handlers: STEP_HANDLERS, libvirt: () => conn, libvirtUri: "qemu:///system",
    config: { guestCommands: [loud(0), loud(3), LOUD_STDERR, QUIET], allowAnyGuestCommand: false, hooks: [] },
    logger: pino({ level: "silent" }),
  });
  diskPath = await prepareGuestDisk(name, artifacts);
  const dom = await conn.domainDefineXML(guestDomainXml({ name, kernel: artifacts.kernel, initrd: artifacts.initrd, diskPath }));
  await conn.domainCreate(dom);
  await ok<"wait-guest-agent">({ kind: "wait-guest-agent", vm: name, timeoutMs: 90_000 });
});

afterAll(async () => {
  if (conn) {
    await removeDomainsWithPrefix(conn, prefix);
    await conn.connectClose();
  }
  if (diskPath) {
    await removeGuestDisk(diskPath);
    fs.rmSync(guestConsoleLogPath(name), { force: true });
  }
});

describe("guest-exec with more output than a guest agent reply can hold", { timeout: 180_000 }, () => {
  it("a command printing 20 MB and exiting 0 succeeds: exit 0, stdout cut to its first 64 KiB, stderr whole", async () => {
    onTestFailed(async () => { console.log(`console of ${name}:\n${(await readGuestConsoleLog(name)).slice(-3000)}`); });
    const started = performance.now();
    const out = await ok<"guest-exec">({ kind: "guest-exec", vm: name, command: loud(0), timeoutMs: 150_000 });
    console.log(`20 MB on stdout, exit 0: ${Math.round(performance.now() - started)} ms, ${out.stdout.length} bytes of stdout kept`);
    expect(out.exitCode).toBe(0);
    expect(out.signal).toBeNull();
    expect(out.truncated).toBe(true);
    expect(out.stdout).toBe("x".repeat(MAX_STREAM_BYTES));
    expect(out.stderr).toBe("done\n");
  });

  it("the same exiting 3 reports exit 3", async () => {
    const out = await ok<"guest-exec">({ kind: "guest-exec", vm: name, command: loud(3), timeoutMs: 150_000 });
    expect(out).toMatchObject({ exitCode: 3, signal: null, truncated: true, stderr: "done\n" });
    expect(out.stdout).toBe("x".repeat(MAX_STREAM_BYTES));
  });

  it("20 MB on stderr: stderr cut to 64 KiB, stdout whole, exit 0", async () => {
    const out = await ok<"guest-exec">({ kind: "guest-exec", vm: name, command: LOUD_STDERR, timeoutMs: 150_000 });
    expect(out).toMatchObject({ exitCode: 0, signal: null, truncated: true, stdout: "start\ndone\n" });
    expect(out.stderr).toBe("e".repeat(MAX_STREAM_BYTES));
  });

  it("output that fits is passed as the command wrote it, with its exit code", async () => {
    const out = await ok<"guest-exec">({ kind: "guest-exec", vm: name, command: QUIET, timeoutMs: 30_000 });
    expect(out).toMatchObject({ exitCode: 7, signal: null, truncated: false, stdout: "a\nb", stderr: "warn" });
  });
});
