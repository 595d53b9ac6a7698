/**
 * Counts kept in plain maps until the next scrape hands them to a prom-client counter: a labelled `inc` is a
 * label lookup each time, too dear on a hot path (one event to 10,000 SSE connections would be 10,000 of them).
 * Up to two label values per count; entries stay, at 0, between scrapes (bounded by the label values seen).
 */
export class UnscrapedCounts {
  private readonly counts = new Map<string, Map<string, number>>();

  add(first: string, second = '', count = 1): void {
    let inner = this.counts.get(first);
    if (!inner) this.counts.set(first, (inner = new Map<string, number>()));
    inner.set(second, (inner.get(second) ?? 0) + count);
  }

  /** Hands each count made since the last drain to `add` (a counter's `collect`), and starts again from 0. */
  drain(add: (first: string, second: string, count: number) => void): void {
    for (const [first, inner] of this.counts) {
      for (const [second, count] of inner) {
        if (count > 0) add(first, second, count);
        inner.set(second, 0);
      }
    }
  }
}
