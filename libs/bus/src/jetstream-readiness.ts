import { JetStreamApiError } from '@nats-io/jetstream';
import { TimeoutError } from '@nats-io/nats-core';

/**
 * JetStream API codes of a cluster without a meta leader (still forming, or lost its quorum). A lone member
 * first lets requests time out, then, after about ten seconds, answers 10008 to every request.
 */
const CLUSTER_NOT_READY_CODES: ReadonlySet<number> = new Set([
  10008, // JetStream system temporarily unavailable
  10009, // JetStream cluster can not handle request (no meta leader)
]);

/** True when JetStream is there but cannot answer yet: wait, do not give up. */
export function isClusterNotReady(error: unknown): boolean {
  if (error instanceof JetStreamApiError) return CLUSTER_NOT_READY_CODES.has(error.code);
  return error instanceof TimeoutError;
}

/** A server without JetStream (nats.js names the error but does not export its class). */
export function isJetStreamNotEnabled(error: unknown): boolean {
  return error instanceof Error && error.name === 'JetStreamNotEnabled';
}

/** An error of the JetStream API with its code, for logs and start failures. */
export function describeJetStreamError(error: unknown): string {
  if (error instanceof JetStreamApiError) return `${error.message} (JetStream error ${error.code})`;
  return error instanceof Error ? error.message : String(error);
}
