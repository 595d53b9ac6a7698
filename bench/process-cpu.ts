import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on Linux). */
const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // after `pid (comm) `: state is field 0, utime 11, stime 12
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

/** The pids of every process whose command name is `name` (`postgres` has one per connection). */
export function pidsNamed(name: string): number[] {
  try {
    return execFileSync('pgrep', ['-x', name]).toString().trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Processes to watch: a name for the table, and how to find their pids at each reading. */
export type Watched = Record<string, () => number[]>;

/**
 * The CPU time each watched process (or group: every `postgres` backend) spends between `start()` and `stop()`,
 * read from /proc, so what a service costs is measured beside what the bus and the databases cost.
 */
export class CpuMeter {
  private before = new Map<string, Map<number, number>>();

  constructor(private readonly watched: Watched) {}

  private read(): Map<string, Map<number, number>> {
    const out = new Map<string, Map<number, number>>();
    for (const [name, pids] of Object.entries(this.watched))
      out.set(name, new Map(pids().map((pid) => [pid, cpuSecondsOf(pid)])));
    return out;
  }

  start(): void {
    this.before = this.read();
  }

  /**
   * Waits until each of `names` has used at most `quietMsPerSecond` of CPU over one whole second (or `timeoutMs`
   * passed), and says how long that took: a service's start (compiling, a collection after it) can run on for
   * seconds after it answers, and would otherwise be counted as the cost of the first events.
   */
  async settle(
    names: string[],
    quietMsPerSecond = 50,
    timeoutMs = 30_000,
  ): Promise<{ ms: number; quiet: boolean }> {
    const began = performance.now();
    for (;;) {
      this.start();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const used = this.stop();
      const quiet = names.every((name) => (used[name] ?? 0) * 1000 <= quietMsPerSecond);
      const ms = performance.now() - began;
      if (quiet || ms >= timeoutMs) return { ms, quiet };
    }
  }

  /** CPU seconds per watched name since `start()` (a process that started since counts from 0). */
  stop(): Record<string, number> {
    const after = this.read();
    const out: Record<string, number> = {};
    for (const [name, pids] of after) {
      let total = 0;
      for (const [pid, seconds] of pids) total += seconds - (this.before.get(name)?.get(pid) ?? 0);
      out[name] = Math.max(0, total);
    }
    return out;
  }
}

/** Each process's CPU milliseconds per unit (per event, or per second of wall time), for the JSON summary. */
export function cpuMsPer(seconds: Record<string, number>, units: number): Record<string, number> {
  return Object.fromEntries(Object.entries(seconds).map(([name, s]) => [name, (s * 1000) / units]));
}

/** One line per process: its CPU time in the phase and per event, in milliseconds. */
export function cpuTable(title: string, seconds: Record<string, number>, events: number): string {
  const lines = [
    `${title} (${events} events)`,
    `${'process'.padEnd(16)} ${'CPU ms'.padStart(9)} ${'ms/event'.padStart(9)}`,
  ];
  let total = 0;
  for (const [name, s] of Object.entries(seconds)) {
    total += s;
    lines.push(
      `${name.padEnd(16)} ${(s * 1000).toFixed(0).padStart(9)} ${((s * 1000) / events).toFixed(3).padStart(9)}`,
    );
  }
  lines.push(
    `${'total'.padEnd(16)} ${(total * 1000).toFixed(0).padStart(9)} ${((total * 1000) / events).toFixed(3).padStart(9)}`,
  );
  return lines.join('\n');
}

/** The same readings as CPU milliseconds per second of wall time: what a process costs while idle. */
export function cpuRateTable(title: string, seconds: Record<string, number>, wallSeconds: number): string {
  const lines = [`${title} (${wallSeconds} s)`, `${'process'.padEnd(16)} ${'CPU ms/s'.padStart(9)}`];
  let total = 0;
  for (const [name, s] of Object.entries(seconds)) {
    total += s;
    lines.push(`${name.padEnd(16)} ${((s * 1000) / wallSeconds).toFixed(1).padStart(9)}`);
  }
  lines.push(`${'total'.padEnd(16)} ${((total * 1000) / wallSeconds).toFixed(1).padStart(9)}`);
  return lines.join('\n');
}
