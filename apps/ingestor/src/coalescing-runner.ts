/**
 * Runs one task per key at a time. A key scheduled while its task runs is run once more afterwards
 * (however many times it was scheduled meanwhile), so the latest state of a file is always read and a
 * burst of events for one file costs at most two reads.
 */
export class CoalescingRunner {
  private readonly states = new Map<string, { rerun: boolean; done: Promise<void> }>();

  constructor(
    private readonly task: (key: string) => Promise<void>,
    private readonly onError: (key: string, error: unknown) => void,
  ) {}

  schedule(key: string): Promise<void> {
    const running = this.states.get(key);
    if (running) {
      running.rerun = true;
      return running.done;
    }
    const state = { rerun: false, done: Promise.resolve() };
    state.done = (async () => {
      try {
        do {
          state.rerun = false;
          try {
            await this.task(key);
          } catch (error) {
            this.onError(key, error);
          }
        } while (state.rerun);
      } finally {
        this.states.delete(key);
      }
    })();
    this.states.set(key, state);
    return state.done;
  }

  /** Resolves when every scheduled task has finished. */
  async idle(): Promise<void> {
    while (this.states.size > 0) await Promise.all([...this.states.values()].map((s) => s.done));
  }
}
