/**
 * What bench/controller-load.ts reads out of /proc about a child process:
 * CPU seconds (utime + stime), current and peak RSS, plus the kernel's TCP
 * listen-queue overflow counters, which explain connect stalls when a
 * thousand agents arrive at once.
 */
import fs from "node:fs";
import { execFileSync } from "node:child_process";

let clockTicks: number | null = null;

/** `getconf CLK_TCK`: the unit of utime/stime in /proc/PID/stat. */
export function clockTicksPerSecond(): number {
  if (clockTicks === null) {
    clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  }
  return clockTicks;
}

/** utime + stime of a process in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces and parentheses: count fields from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond();
}

export interface MemoryStatus {
  rssMB: number;
  /** VmHWM: the peak RSS since the process started. */
  peakRssMB: number;
}

export function memoryStatus(pid: number): MemoryStatus {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kB = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssMB: kB("VmRSS") / 1024, peakRssMB: kB("VmHWM") / 1024 };
}

/** A process's CPU use between two points. */
export interface CpuSpan {
  seconds: number;
  /** CPU seconds per wall second: 1.0 is one core busy. */
  utilisation: number;
}

/** Marks CPU seconds of one process (or, with pid null, of the whole machine) at named points. */
export class CpuMeter {
  private readonly marks = new Map<string, { cpu: number; at: number }>();

  constructor(private readonly pid: number | null) {}

  /** A process that is gone marks NaN: its spans read NaN rather than the run dying on the way to its checks. */
  mark(name: string, at: number): void {
    let cpu = NaN;
    try {
      cpu = this.pid === null ? machineBusySeconds() : cpuSeconds(this.pid);
    } catch {
      // exited
    }
    this.marks.set(name, { cpu, at });
  }

  span(from: string, to: string): CpuSpan {
    const a = this.marks.get(from);
    const b = this.marks.get(to);
    if (!a || !b) throw new Error(`no CPU mark ${a ? to : from}`);
    const seconds = b.cpu - a.cpu;
    return { seconds, utilisation: seconds / Math.max((b.at - a.at) / 1000, 1e-9) };
  }
}

/**
 * Samples a process's RSS every `everyMs` so each phase gets its own peak
 * (VmHWM only ever grows, so it cannot tell phases apart).
 */
export class RssSampler {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number, everyMs = 100) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  private sample(): void {
    try {
      this.peak = Math.max(this.peak, memoryStatus(this.pid).rssMB);
    } catch {
      // The process has exited; the last peak stands.
    }
  }

  /** The highest RSS seen since the last call, in MB. */
  takePeak(): number {
    this.sample();
    const p = this.peak;
    this.peak = 0;
    return p;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** TcpExt ListenOverflows and ListenDrops: SYNs dropped because an accept queue was full (machine-wide). */
export function listenDrops(): { overflows: number; drops: number } {
  const lines = fs.readFileSync("/proc/net/netstat", "utf8").split("\n");
  for (let i = 0; i + 1 < lines.length; i += 2) {
    if (!lines[i]!.startsWith("TcpExt:")) continue;
    const keys = lines[i]!.split(/\s+/);
    const values = lines[i + 1]!.split(/\s+/);
    const get = (k: string) => Number(values[keys.indexOf(k)] ?? NaN);
    return { overflows: get("ListenOverflows"), drops: get("ListenDrops") };
  }
  return { overflows: NaN, drops: NaN };
}

/** Busy CPU seconds of the whole machine (every core, every process), from /proc/stat. */
export function machineBusySeconds(): number {
  const cpu = fs.readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
  return (user + nice + system + irq + softirq + steal) / clockTicksPerSecond();
}

/** Bytes a process wrote through write(2) (wchar) and that reached the block layer (write_bytes). */
export function ioWritten(pid: number): { wcharMB: number; diskMB: number } {
  let io = "";
  try {
    io = fs.readFileSync(`/proc/${pid}/io`, "utf8");
  } catch {
    // exited: NaN below
  }
  const get = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(io)?.[1] ?? NaN) / 2 ** 20;
  return { wcharMB: get("wchar"), diskMB: get("write_bytes") };
}
