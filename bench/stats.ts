/** Nearest-rank percentiles of a list of milliseconds, printed the same way by every benchmark. */
export function summarize(values: number[]): { count: number; p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN };
}

export function row(label: string, s: ReturnType<typeof summarize>): string {
  const ms = (v: number) => `${v.toFixed(2)} ms`.padStart(10);
  return `${label.padEnd(44)} ${String(s.count).padStart(6)} ${ms(s.p50)} ${ms(s.p99)} ${ms(s.max)}`;
}

export const HEADER = `${'path'.padEnd(44)} ${'events'.padStart(6)} ${'p50'.padStart(10)} ${'p99'.padStart(10)} ${'max'.padStart(10)}`;

export async function pace(index: number, start: number, perSecond: number): Promise<void> {
  const due = start + (index * 1000) / perSecond;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}
