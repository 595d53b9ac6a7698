import type { DeliveryAdapter, DeliveryTarget } from './delivery.js';

/** Delivers into memory: for the benchmark (and any run that should not touch a terminal). */
export class MemoryAdapter implements DeliveryAdapter {
  readonly delivered: { target: DeliveryTarget; text: string; at: number }[] = [];
  private readonly listeners: ((count: number) => void)[] = [];

  lastHumanInput(): Promise<Date | undefined> {
    return Promise.resolve(undefined);
  }

  unsentInput(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }

  deliver(target: DeliveryTarget, text: string): Promise<Record<string, unknown>> {
    this.delivered.push({ target, text, at: performance.now() });
    for (const listener of this.listeners) listener(this.delivered.length);
    return Promise.resolve({ bytes: Buffer.byteLength(text) });
  }

  /** Resolves when `count` deliveries have been made. */
  waitFor(count: number): Promise<void> {
    if (this.delivered.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.listeners.push((n) => n >= count && resolve()));
  }
}
