import type {
  DirectMsgRequest,
  JetStreamManager,
  LastForMsgRequest,
  SeqMsgRequest,
  StoredMsg,
} from '@nats-io/jetstream';

/** One stored message asked for: by sequence, the first on a subject at or after one, or a subject's last. */
export type StoredMessageQuery = SeqMsgRequest | LastForMsgRequest | { seq: number; next_by_subj: string };

/**
 * One message of a stream, as its leader holds it (null: none). Every replica of a stream with `allow_direct`
 * answers direct gets, and a follower that has not applied the newest messages yet answers as if they did not
 * exist: on a three-server cluster, up to a few percent of gets made right after a publish, more while several
 * services publish at once (an SSE resume once missed an event so; NATS ADR-53 "read-after-write" describes
 * it, with a fix opted into from nats-server 2.12). Replicas apply one log in order, so a message a follower finds by sequence is one the leader holds or held
 * at that point of the log: those stay direct (the fast path, served by every replica); an answer of "none", and
 * any "last", are asked of the leader instead.
 */
export async function readStoredMessage(
  jsm: JetStreamManager,
  stream: string,
  query: StoredMessageQuery,
): Promise<StoredMsg | null> {
  if (!('last_by_subj' in query)) {
    const found = await jsm.direct.getMessage(stream, query satisfies DirectMsgRequest);
    if (found) return found;
  }
  // the leader's get takes next_by_subj as the direct get does (nats-server 2.9+), though its type names only
  // seq and last_by_subj
  return jsm.streams.getMessage(stream, query);
}
