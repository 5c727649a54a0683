// Host-wide CPU time from /proc/stat, to tell when processes outside the
// benchmark (or the kernel's network softirqs) took CPU during a phase.
import { readFileSync } from "node:fs";

/** Linux reports /proc/stat in USER_HZ ticks, 100 per second on every architecture we run on. */
const MICROS_PER_TICK = 10_000;

export interface HostCpu {
  /** user + nice + system time of all CPUs, µs (excludes irq and softirq). */
  busy: number;
  /** irq + softirq time of all CPUs, µs. */
  irq: number;
}

export function hostCpu(): HostCpu {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return {
      busy: (user + nice + system) * MICROS_PER_TICK,
      irq: (irq + softirq) * MICROS_PER_TICK,
    };
  } catch {
    return { busy: Number.NaN, irq: Number.NaN };
  }
}

/** This process's own CPU time, µs. */
export function ownCpu(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/**
 * Waits, at most `maxMs`, until the host is nearly idle (under `percent` of
 * one core busy over half a second); false if it never was.
 */
export async function awaitQuietHost(maxMs: number, percent = 15): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  do {
    const before = hostCpu().busy;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const busy = hostCpu().busy - before;
    if (!(busy > (percent / 100) * 500_000)) return true;
  } while (Date.now() < deadline);
  return false;
}
