import { type StreamRole, type Subjects, TERMINAL_BUILD_STATUSES, TERMINAL_TRIGGER_STATES } from '#contracts';

/** What makes a stream of statuses: each event is a full snapshot of its entity, and some states end it. */
export interface StatusRules {
  /** The id field and state field of the `end` event's data: `{build_id, status}`. */
  idField: string;
  stateField: string;
  terminal: ReadonlySet<string>;
}

/** One stream served over SSE (SPEC 4.2), and how its subjects map to the keys connections ask for. */
export interface FeedKind {
  role: StreamRole;
  /** The metrics label of a one-key stream; several keys on one connection use `${label}s`. */
  label: string;
  /** The SSE event name: `status`, `trigger`, `outbox`. */
  event: string;
  /** Every subject of the kind: what the gateway's one live reader follows. */
  allSubjects: string;
  /** The key of a subject: build id, trigger id, outbox source. */
  keyOf: (subject: string) => string | undefined;
  /** The subject (or wildcard) of one key. */
  subjectFor: (key: string) => string;
  /** For status streams: superseded events of a key may be conflated, and a terminal state ends the key. */
  status?: StatusRules;
  /** Without Last-Event-ID a client gets every retained event of its keys (logs), not only the newest. */
  snapshotAll?: boolean;
}

export function feedKinds(subjects: Subjects): Record<'builds' | 'triggers' | 'outbox' | 'logs', FeedKind> {
  return {
    builds: {
      role: 'builds',
      label: 'build',
      event: 'status',
      allSubjects: subjects.allBuildStatus(),
      keyOf: (subject) => subjects.buildIdOf(subject),
      subjectFor: (id) => subjects.buildStatus(id),
      status: { idField: 'build_id', stateField: 'status', terminal: TERMINAL_BUILD_STATUSES },
    },
    triggers: {
      role: 'triggers',
      label: 'trigger',
      event: 'trigger',
      allSubjects: subjects.allTriggerStatus(),
      keyOf: (subject) => subjects.triggerIdOf(subject),
      subjectFor: (id) => subjects.triggerStatus(id),
      status: { idField: 'trigger_id', stateField: 'state', terminal: TERMINAL_TRIGGER_STATES },
    },
    // Messages are never conflated: each one is distinct.
    outbox: {
      role: 'outbox',
      label: 'outbox',
      event: 'outbox',
      allSubjects: subjects.streamSubjects('outbox')[0],
      keyOf: (subject) => subjects.outboxSourceOf(subject),
      subjectFor: (source) => subjects.outboxSource(source),
    },
    // A build's output lines (SPEC 6.3): each distinct, and a new client gets all that is kept, as `tail -f`.
    logs: {
      role: 'logs',
      label: 'logs',
      event: 'log',
      allSubjects: subjects.allLogs(),
      keyOf: (subject) => subjects.logsBuildIdOf(subject),
      subjectFor: (id) => subjects.logs(id),
      snapshotAll: true,
    },
  };
}
