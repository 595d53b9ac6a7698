import 'reflect-metadata';
import { isAbsolute, resolve } from 'node:path';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { plainToInstance, Type } from 'class-transformer';
import {
  getMetadataStorage,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  validateSync,
} from 'class-validator';
import { GuardkitError, isSafeId } from '#contracts';

/** A setting with a bad value. The service prints it and stops before doing anything else. */
export class SettingsError extends GuardkitError {
  readonly code = 'INVALID_SETTINGS';
}

/**
 * The environment, as it may be set. Every variable is optional; the defaults are in `loadSettings`.
 * README.md lists them all: keep the two in step.
 */
class Environment {
  @IsOptional()
  @Matches(/^(nats|tls|wss?):\/\/[^\s,]+(\s*,\s*(nats|tls|wss?):\/\/[^\s,]+)*$/, {
    message: 'must be a nats:// URL (several may be comma-separated)',
  })
  NATS_URL?: string;
  @IsOptional()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, { message: 'must be letters, digits, _ or -' })
  BUS_NAMESPACE?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(600_000) NATS_PUBLISH_TIMEOUT_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) NATS_PUBLISH_ATTEMPTS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(600_000) NATS_REQUEST_TIMEOUT_MS?: number;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) STREAM_MAX_AGE_SECONDS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) STREAM_MAX_MSGS_PER_SUBJECT?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1_048_576) OUTBOX_STREAM_MAX_BYTES?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(3_600_000) PROJECTION_CHECK_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(1000) PROJECTION_BATCH_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(86_400) STREAM_DUPLICATE_WINDOW_SECONDS?: number;
  @IsOptional() @Type(() => Number) @IsIn([1, 3, 5]) STREAM_REPLICAS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1000) @Max(3_600_000) STREAM_PROVISION_TIMEOUT_MS?: number;
  @IsOptional() @IsIn(['file', 'memory']) STREAM_STORAGE?: 'file' | 'memory';
  @IsOptional() @Type(() => Number) @IsInt() @Min(60) LOG_STREAM_MAX_AGE_SECONDS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1_048_576) LOG_STREAM_MAX_BYTES?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) LOG_MAX_LINES_PER_BUILD?: number;

  @IsOptional() @Matches(/^rediss?:\/\/[^\s]+$/, { message: 'must be a redis:// URL' }) REDIS_URL?: string;
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/[^\s]+\/[A-Za-z0-9_]+(\?.*)?$/, {
    message: 'must be a postgres:// URL that names a database',
  })
  DATABASE_URL?: string;

  @IsOptional() @IsString() GATEWAY_HOST?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(65_535) GATEWAY_PORT?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(65_535) HEALTH_PORT?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1000) @Max(600_000) SHUTDOWN_GRACE_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(525_600) BUILD_STALE_MINUTES?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1000) @Max(3_600_000) SSE_HEARTBEAT_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(600_000) SSE_RETRY_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1_000_000) SSE_CLIENT_QUEUE_LIMIT?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(600_000) SSE_CONFLATE_AFTER_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(65_536) @Max(1_073_741_824) SSE_CLIENT_QUEUE_BYTES?: number;

  @IsOptional() @IsString() GUARDKIT_PROGRESS_ROOTS?: string;
  @IsOptional() @IsString() AUTOAPPDEV_RUNTIME_DIR?: string;
  @IsOptional() @IsString() GUARDKIT_OUTBOX_SOURCES?: string;
  @IsOptional() @IsIn(['move', 'delete']) OUTBOX_AFTER_INGEST?: 'move' | 'delete';
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1_000_000) OUTBOX_MAX_CHARS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(3_600_000) INGEST_SCAN_INTERVAL_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(20) INGEST_REREAD_ATTEMPTS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(10_000) INGEST_REREAD_DELAY_MS?: number;

  @IsOptional()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, { message: 'must be letters, digits, _ or -' })
  QUEUE_PREFIX?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(3650) QUEUE_FAILED_KEEP_DAYS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(10_000_000) QUEUE_FAILED_KEEP_COUNT?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) RPC_CONCURRENCY?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(36_500) TRIGGER_RETENTION_DAYS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(36_500) AUDIT_RETENTION_DAYS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(36_500) OUTBOX_RETENTION_DAYS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) TRIGGER_ATTEMPTS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(10) @Max(600_000) TRIGGER_SWEEP_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(3_600_000) TRIGGER_RECORD_RETRY_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(3_600_000) TRIGGER_BACKOFF_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(86_400_000) TRIGGER_BACKOFF_MAX_MS?: number;
  @IsOptional() @Type(() => Number) @IsNumber() @Min(0) @Max(1) TRIGGER_BACKOFF_JITTER?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) TRIGGER_CONCURRENCY?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1000) @Max(3_600_000) TRIGGER_LOCK_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(64) @Max(1_048_576) TRIGGER_PAYLOAD_MAX_BYTES?: number;
  @IsOptional() @IsString() TRIGGER_RESUME_COMMAND?: string;
  @IsOptional() @IsString() TRIGGER_SPAWN_COMMAND?: string;
  @IsOptional()
  @Matches(/^[A-Za-z_][A-Za-z0-9_]*(\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*$/, {
    message: 'must be environment variable names, comma-separated',
  })
  TRIGGER_COMMAND_ENV?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(3_600_000) TRIGGER_COMMAND_TIMEOUT_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(600_000) TRIGGER_DELIVERY_TIMEOUT_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(10) @Max(600_000) TRIGGER_DEFER_RECHECK_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(3_600_000) TRIGGER_QUIET_WINDOW_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(86_400_000) TRIGGER_DEFER_MAX_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100_000) TRIGGER_RATE_LIMIT_PER_MINUTE?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(100) TRIGGER_RESUME_TRIES?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(10_000) TRIGGER_AUTO_BLOCK_TURNS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(2) @Max(1000) TRIGGER_AUTO_BLOCK_IDENTICAL?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) TRIGGER_CRASH_LOOP_FAILURES?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(86_400) TRIGGER_CRASH_LOOP_WINDOW_SECONDS?: number;
  @IsOptional() @Type(() => Number) @IsNumber() @Min(0.001) @Max(8760) SESSION_STALE_HOURS?: number;
  @IsOptional()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { message: 'must be a tmux socket name (tmux -L)' })
  TMUX_SOCKET?: string;

  @IsOptional() @IsString() PIPELINE_WORKSPACE_ROOTS?: string;
  @IsOptional() @IsString() AUTOAPPDEV_PIPELINE_SCRIPT?: string;
  @IsOptional() @IsString() AUTOAPPDEV_PIPELINE_CWD?: string;
  @IsOptional()
  @Matches(/^https?:\/\/[^\s,/]+(\s*,\s*https?:\/\/[^\s,/]+)*$/, {
    message: 'must be origins (scheme://host[:port]), comma-separated',
  })
  GATEWAY_CORS_ORIGINS?: string;
  @IsOptional() @IsString() GATEWAY_JWT_SECRET?: string;
  @IsOptional() @IsString() GATEWAY_JWT_PUBLIC_KEY?: string;
  @IsOptional() @IsUrl({ require_tld: false, protocols: ['http', 'https'] }) GATEWAY_JWKS_URL?: string;
  @IsOptional() @IsString() GATEWAY_JWT_ISSUER?: string;
  @IsOptional() @IsString() GATEWAY_JWT_AUDIENCE?: string;
  @IsOptional() @IsIn(['true', 'false']) GATEWAY_OPEN?: string;
  @IsOptional() @IsIn(['true', 'false']) GATEWAY_ALLOW_QUERY_TOKEN?: string;
  @IsOptional() @IsString() AGENT_COMMAND?: string;
  @IsOptional()
  @Matches(
    /^\s*([A-Za-z0-9][A-Za-z0-9_-]{0,63}|\*)\s*=\s*\d+\s*(,\s*([A-Za-z0-9][A-Za-z0-9_-]{0,63}|\*)\s*=\s*\d+\s*)*$/,
    {
      message: 'must be role=N pairs, comma-separated (`*` for every other role): implementer=2,tester=4,*=1',
    },
  )
  AGENT_CONCURRENCY?: string;
  @IsOptional()
  @Matches(/^[A-Za-z_][A-Za-z0-9_]*(\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*$/, {
    message: 'must be environment variable names, comma-separated',
  })
  AGENT_ENV_ALLOW?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(604_800) AGENT_TIMEOUT_SECONDS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(604_800) AGENT_SILENCE_TIMEOUT_SECONDS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(600_000) AGENT_KILL_GRACE_MS?: number;
  @IsOptional() @IsString() AUTOAPPDEV_CODEX_MODEL?: string;
  @IsOptional() @IsString() AUTOAPPDEV_CODEX_REASONING?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(80) @Max(1_000_000) LOG_LINE_MAX_CHARS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100_000) LOG_LINES_PER_SECOND?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1000) @Max(3_600_000) AGENT_LOCK_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(20) WORKFLOW_MAX_REVIEW_ROUNDS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(20) WORKFLOW_ROLE_ATTEMPTS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(10) @Max(3_600_000) WORKFLOW_RETRY_BACKOFF_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(2000) @Max(2_000_000) WORKFLOW_PROMPT_MAX_CHARS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1000) @Max(3_600_000) WORKFLOW_LOCK_LEASE_MS?: number;
  @IsOptional() @IsString() WORKFLOW_TEST_COMMAND?: string;
  @IsOptional() @IsString() WORKFLOW_TEMPLATES_DIR?: string;
  @IsOptional()
  @Matches(
    /^\s*[A-Za-z0-9][A-Za-z0-9_-]{0,63}\s*=\s*[^;=\s,][^;=]*(;\s*[A-Za-z0-9][A-Za-z0-9_-]{0,63}\s*=\s*[^;=\s,][^;=]*)*;?\s*$/,
    { message: 'must be role=model[,fallback…] entries separated by `;`: implementer=m1,m2;reviewer=m3' },
  )
  ROLE_MODELS?: string;

  @IsOptional() @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) LOG_LEVEL?: string;
  @IsOptional() @IsIn(['json', 'pretty']) LOG_FORMAT?: 'json' | 'pretty';
}

/** The name of every environment variable the services read (the README and docker-compose.yml list them all). */
export function settingNames(): string[] {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(Environment, '', true, false);
  return [...new Set(metadata.map((m) => m.propertyName))].sort();
}

export interface Settings {
  nats: {
    servers: string[];
    namespace: string;
    publishTimeoutMs: number;
    publishAttempts: number;
    requestTimeoutMs: number;
    /** Requests a service answers at once; more wait their turn (so load cannot starve the database pool). */
    rpcConcurrency: number;
  };
  streams: {
    maxAgeSeconds: number;
    maxMsgsPerSubject: number;
    /** The outbox stream's size bound (it has no per-subject bound: see StreamProvisioner). */
    outboxMaxBytes: number;
    /** How often a projection checks its stream's identity and retention while it runs. */
    projectionCheckMs: number;
    /**
     * A projection's next statement starts at least this long after the previous one started, so under load
     * one statement carries the events of this window (an event after a quiet spell is written at once).
     * Under load `/builds` may trail the stream by this much; SSE never waits for it.
     */
    projectionBatchMs: number;
    duplicateWindowSeconds: number;
    replicas: number;
    /** How long a start keeps trying to create or update a stream while JetStream is not ready (a cluster electing). */
    provisionTimeoutMs: number;
    storage: 'file' | 'memory';
    /** GUARDKIT_LOGS keeps less than the other streams: output lines are many and worth less with age. */
    logs: { maxAgeSeconds: number; maxBytes: number; maxLinesPerBuild: number };
  };
  redis: { url: string };
  database: { url: string };
  gateway: {
    host: string;
    port: number;
    sseHeartbeatMs: number;
    sseRetryMs: number;
    sseClientQueueLimit: number;
    sseConflateAfterMs: number;
    sseClientQueueBytes: number;
    /** Browser origins allowed to call the API (AutoAppDev's PWA from its own origin); none by default. */
    corsOrigins: string[];
    /** SPEC 4.3: how tokens are verified; undefined when access is open (no key set). */
    access?: AccessSettings;
    /** GATEWAY_OPEN=true: serve a non-loopback address without a key, on purpose. */
    open: boolean;
    /** GATEWAY_ALLOW_QUERY_TOKEN=true: take `?access_token=` (clients that can set neither header nor cookie). */
    allowQueryToken: boolean;
  };
  ingest: {
    progressRoots: string[];
    runtimeDir: string;
    scanIntervalMs: number;
    rereadAttempts: number;
    rereadDelayMs: number;
    /** AutoAppDev runtime folders by source name; `local` is AUTOAPPDEV_RUNTIME_DIR. */
    outboxSources: { name: string; runtimeDir: string }[];
    outboxAfterIngest: 'move' | 'delete';
    outboxMaxChars: number;
  };
  /** Where the orchestrator and the ingestor answer /healthz and /readyz; none when unset. */
  healthPort: number | undefined;
  /** How long a stopping service may drain before it exits anyway. */
  shutdownGraceMs: number;
  /** A running build with nothing received for this long is shown `stale`. */
  buildStaleMinutes: number;
  queues: {
    /** BullMQ's key prefix in Redis; tests use their own. */
    prefix: string;
    /** How many failed jobs (and dead letters) are kept, and for how long (seconds): Redis is `noeviction`. */
    keepFailed: { age: number; count: number };
  };
  /** How long finished history stays in PostgreSQL, in days (a daily job deletes what is older). */
  retention: { triggerDays: number; auditDays: number; outboxDays: number };
  triggers: TriggerSettings;
  pipelines: {
    /** A run's working folder must lie under one of these (real paths). */
    workspaceRoots: string[];
    /** What AutoAppDev's `POST /api/pipeline/start` runs: an AAPS file and its folder (unset: none). */
    autoappdevScript: string | undefined;
    autoappdevCwd: string | undefined;
  };
  agents: AgentSettings;
  workflows: WorkflowSettings;
  log: {
    level: string;
    /** Debug lines are written (LOG_LEVEL debug or trace): a per-event debug line is not even built otherwise. */
    debug: boolean;
    pretty: boolean;
    /** Where the JSON lines go: stdout, unless a test takes them to assert on (not a setting). */
    destination?: { write(line: string): void };
  };
}

/** SPEC 6.3: the agent queues and what their jobs may do. Durations in milliseconds. */
export interface AgentSettings {
  /** A bash command line, the prompt on stdin; values arrive as environment variables (never pasted in). */
  command: string;
  /** Jobs at once per role; `*` for a role not named. */
  concurrency: Record<string, number>;
  /** Names of the orchestrator's environment passed to actions, past the basic allowlist. */
  envAllow: string[];
  timeoutMs: number;
  silenceMs: number;
  killGraceMs: number;
  /** A worker's lock on its job: a job whose worker died is taken over this long after its last renewal. */
  lockMs: number;
  model: string;
  reasoning: string;
  logLineMaxChars: number;
  logLinesPerSecond: number;
}

/** SPEC 6.2: role workflows. Durations in milliseconds. */
export interface WorkflowSettings {
  maxReviewRounds: number;
  /** Executions of a role per round before the workflow fails (an unparseable answer is a failed one). */
  roleAttempts: number;
  /** The first retry's delay; each next one doubles it. */
  retryBackoffMs: number;
  promptMaxChars: number;
  /** How long the implementer's workspace lock outlives its holder's last renewal. */
  lockLeaseMs: number;
  /** The tester's check (a bash command line in the workspace); unset: the tester is an agent. */
  testCommand: string | undefined;
  /** A folder whose `<role>.md` replaces the shipped instructions of that role. */
  templatesDir: string | undefined;
  /** Models per role, tried in order: attempt n uses the n-th (the last once they run out). */
  roleModels: Record<string, string[]>;
}

/** The agent command when AGENT_COMMAND is unset: Codex, continuing the run's session once it has one. */
export const DEFAULT_AGENT_COMMAND =
  'codex exec ${GUARDKIT_AGENT_SESSION:+resume "$GUARDKIT_AGENT_SESSION"} --json --full-auto ' +
  '-m "$AUTOAPPDEV_CODEX_MODEL" -c model_reasoning_effort="\\"$AUTOAPPDEV_CODEX_REASONING\\"" -';

/** SPEC 5: delivery, retries and the safeguards' thresholds. Durations in milliseconds. */
export interface TriggerSettings {
  attempts: number;
  /** How often committed but unqueued triggers are queued. */
  sweepMs: number;
  /** How long a worker keeps trying to record what a delivery did before it gives up (the database is down). */
  recordRetryMs: number;
  backoffMs: number;
  backoffMaxMs: number;
  backoffJitter: number;
  concurrency: number;
  /** A job's lock; a worker that dies leaves its job stalled for about this long. */
  lockMs: number;
  payloadMaxBytes: number;
  /** Shell command templates run with the trigger in GUARDKIT_* variables; empty means not configured. */
  resumeCommand: string;
  spawnCommand: string;
  /** Variables of the orchestrator's environment passed to those commands, past the basic allowlist. */
  commandEnv: string[];
  commandTimeoutMs: number;
  deliveryTimeoutMs: number;
  /** `tmux -L <socket>`; empty for tmux's default server. */
  tmuxSocket: string;
  quietWindowMs: number;
  deferRecheckMs: number;
  deferMaxMs: number;
  rateLimitPerMinute: number;
  resumeTries: number;
  autoBlockTurns: number;
  autoBlockIdentical: number;
  crashLoopFailures: number;
  crashLoopWindowMs: number;
  sessionStaleMs: number;
}

/**
 * Reads and checks the whole environment once, at start. A bad value throws a SettingsError that names
 * every variable at fault; nothing else in the code reads process.env.
 */
export function loadSettings(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Settings {
  const raw = plainToInstance(Environment, pickDefined(env));
  const errors = validateSync(raw, { forbidUnknownValues: false });
  const problems = errors.flatMap((e) =>
    Object.values(e.constraints ?? {}).map(
      (text) => `${e.property}=${JSON.stringify(env[e.property])}: ${text.replace(`${e.property} `, '')}`,
    ),
  );
  const roots = splitList(raw.GUARDKIT_PROGRESS_ROOTS ?? '.').map((p) => absolute(p, cwd));
  if (roots.length === 0) problems.push('GUARDKIT_PROGRESS_ROOTS: names no folder');
  if (raw.BUS_NAMESPACE !== undefined && !isSafeId(raw.BUS_NAMESPACE))
    problems.push('BUS_NAMESPACE: not a safe id');
  const outboxSources = [
    { name: 'local', runtimeDir: absolute(raw.AUTOAPPDEV_RUNTIME_DIR ?? './runtime', cwd) },
  ];
  for (const entry of splitList(raw.GUARDKIT_OUTBOX_SOURCES ?? '')) {
    const [name = '', ...rest] = entry.split('=');
    const path = rest.join('=').trim();
    if (!isSafeId(name.trim()) || path === '') {
      problems.push(
        `GUARDKIT_OUTBOX_SOURCES: ${JSON.stringify(entry)} is not name=/path/to/runtime (a name of letters, digits, _ or -)`,
      );
    } else if (outboxSources.some((s) => s.name === name.trim())) {
      problems.push(`GUARDKIT_OUTBOX_SOURCES: the source ${JSON.stringify(name.trim())} is named twice`);
    } else {
      outboxSources.push({ name: name.trim(), runtimeDir: absolute(path, cwd) });
    }
  }
  const workspaceRoots = splitList(raw.PIPELINE_WORKSPACE_ROOTS ?? '.').map((p) => absolute(p, cwd));
  if (workspaceRoots.length === 0) problems.push('PIPELINE_WORKSPACE_ROOTS: names no folder');
  const concurrency: Record<string, number> = { '*': 2 };
  for (const pair of splitList(raw.AGENT_CONCURRENCY ?? '')) {
    const [role = '', count = ''] = pair.split('=').map((x) => x.trim());
    if (Number(count) < 1) problems.push(`AGENT_CONCURRENCY: ${role}=${count}: at least 1`);
    concurrency[role] = Number(count);
  }
  const envAllow = splitList(raw.AGENT_ENV_ALLOW ?? '');
  const own = new Set(settingNames());
  for (const name of envAllow.filter((n) => own.has(n) && !n.startsWith('AUTOAPPDEV_'))) {
    problems.push(
      `AGENT_ENV_ALLOW: ${name} is a guardkit-stream setting; agents never see the service's own settings`,
    );
  }
  const roleModels: Record<string, string[]> = {};
  for (const entry of (raw.ROLE_MODELS ?? '').split(';').filter((e) => e.trim() !== '')) {
    const [role = '', models = ''] = entry.split('=').map((x) => x.trim());
    if (roleModels[role]) problems.push(`ROLE_MODELS: the role ${JSON.stringify(role)} is named twice`);
    roleModels[role] = splitList(models);
  }
  const access = accessSettings(raw, problems);
  if ((raw.TRIGGER_BACKOFF_MAX_MS ?? 60_000) < (raw.TRIGGER_BACKOFF_MS ?? 1000))
    problems.push('TRIGGER_BACKOFF_MAX_MS: is below TRIGGER_BACKOFF_MS');
  if (problems.length > 0) {
    throw new SettingsError(`invalid settings:\n  ${problems.join('\n  ')}`);
  }
  return {
    nats: {
      servers: splitList(raw.NATS_URL ?? 'nats://127.0.0.1:4222'),
      namespace: raw.BUS_NAMESPACE ?? '',
      publishTimeoutMs: raw.NATS_PUBLISH_TIMEOUT_MS ?? 5000,
      publishAttempts: raw.NATS_PUBLISH_ATTEMPTS ?? 5,
      requestTimeoutMs: raw.NATS_REQUEST_TIMEOUT_MS ?? 5000,
      rpcConcurrency: raw.RPC_CONCURRENCY ?? 8,
    },
    streams: {
      maxAgeSeconds: raw.STREAM_MAX_AGE_SECONDS ?? 7 * 24 * 3600,
      maxMsgsPerSubject: raw.STREAM_MAX_MSGS_PER_SUBJECT ?? 10_000,
      outboxMaxBytes: raw.OUTBOX_STREAM_MAX_BYTES ?? 1024 ** 3,
      projectionCheckMs: raw.PROJECTION_CHECK_MS ?? 10_000,
      projectionBatchMs: raw.PROJECTION_BATCH_MS ?? 100,
      duplicateWindowSeconds: raw.STREAM_DUPLICATE_WINDOW_SECONDS ?? 120,
      replicas: raw.STREAM_REPLICAS ?? 1,
      provisionTimeoutMs: raw.STREAM_PROVISION_TIMEOUT_MS ?? 60_000,
      storage: raw.STREAM_STORAGE ?? 'file',
      logs: {
        maxAgeSeconds: raw.LOG_STREAM_MAX_AGE_SECONDS ?? 2 * 24 * 3600,
        maxBytes: raw.LOG_STREAM_MAX_BYTES ?? 1024 ** 3,
        maxLinesPerBuild: raw.LOG_MAX_LINES_PER_BUILD ?? 50_000,
      },
    },
    redis: { url: raw.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    database: { url: raw.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/guardkit' },
    gateway: {
      host: raw.GATEWAY_HOST ?? '127.0.0.1',
      port: raw.GATEWAY_PORT ?? 3000,
      sseHeartbeatMs: raw.SSE_HEARTBEAT_MS ?? 15_000,
      sseRetryMs: raw.SSE_RETRY_MS ?? 3000,
      sseClientQueueLimit: raw.SSE_CLIENT_QUEUE_LIMIT ?? 1000,
      sseConflateAfterMs: raw.SSE_CONFLATE_AFTER_MS ?? 2000,
      sseClientQueueBytes: raw.SSE_CLIENT_QUEUE_BYTES ?? 4_194_304,
      corsOrigins: splitList(raw.GATEWAY_CORS_ORIGINS ?? ''),
      ...(access ? { access } : {}),
      open: raw.GATEWAY_OPEN === 'true',
      allowQueryToken: raw.GATEWAY_ALLOW_QUERY_TOKEN === 'true',
    },
    ingest: {
      progressRoots: roots,
      runtimeDir: absolute(raw.AUTOAPPDEV_RUNTIME_DIR ?? './runtime', cwd),
      scanIntervalMs: raw.INGEST_SCAN_INTERVAL_MS ?? 5000,
      rereadAttempts: raw.INGEST_REREAD_ATTEMPTS ?? 3,
      rereadDelayMs: raw.INGEST_REREAD_DELAY_MS ?? 50,
      outboxSources,
      outboxAfterIngest: raw.OUTBOX_AFTER_INGEST ?? 'move',
      outboxMaxChars: raw.OUTBOX_MAX_CHARS ?? 10_000,
    },
    healthPort: raw.HEALTH_PORT,
    shutdownGraceMs: raw.SHUTDOWN_GRACE_MS ?? 8000,
    buildStaleMinutes: raw.BUILD_STALE_MINUTES ?? 30,
    queues: {
      prefix: raw.QUEUE_PREFIX ?? 'bull',
      keepFailed: {
        age: (raw.QUEUE_FAILED_KEEP_DAYS ?? 30) * 86_400,
        count: raw.QUEUE_FAILED_KEEP_COUNT ?? 10_000,
      },
    },
    retention: {
      triggerDays: raw.TRIGGER_RETENTION_DAYS ?? 90,
      auditDays: raw.AUDIT_RETENTION_DAYS ?? 365,
      outboxDays: raw.OUTBOX_RETENTION_DAYS ?? 30,
    },
    triggers: {
      attempts: raw.TRIGGER_ATTEMPTS ?? 5,
      sweepMs: raw.TRIGGER_SWEEP_MS ?? 2000,
      recordRetryMs: raw.TRIGGER_RECORD_RETRY_MS ?? 60_000,
      backoffMs: raw.TRIGGER_BACKOFF_MS ?? 1000,
      backoffMaxMs: raw.TRIGGER_BACKOFF_MAX_MS ?? 60_000,
      backoffJitter: raw.TRIGGER_BACKOFF_JITTER ?? 0.5,
      concurrency: raw.TRIGGER_CONCURRENCY ?? 4,
      lockMs: raw.TRIGGER_LOCK_MS ?? 30_000,
      payloadMaxBytes: raw.TRIGGER_PAYLOAD_MAX_BYTES ?? 8192,
      resumeCommand: raw.TRIGGER_RESUME_COMMAND ?? '',
      spawnCommand: raw.TRIGGER_SPAWN_COMMAND ?? '',
      commandEnv: splitList(raw.TRIGGER_COMMAND_ENV ?? ''),
      commandTimeoutMs: raw.TRIGGER_COMMAND_TIMEOUT_MS ?? 30_000,
      deliveryTimeoutMs: raw.TRIGGER_DELIVERY_TIMEOUT_MS ?? 5000,
      tmuxSocket: raw.TMUX_SOCKET ?? '',
      quietWindowMs: raw.TRIGGER_QUIET_WINDOW_MS ?? 20_000,
      deferRecheckMs: raw.TRIGGER_DEFER_RECHECK_MS ?? 5000,
      deferMaxMs: raw.TRIGGER_DEFER_MAX_MS ?? 60_000,
      rateLimitPerMinute: raw.TRIGGER_RATE_LIMIT_PER_MINUTE ?? 10,
      resumeTries: raw.TRIGGER_RESUME_TRIES ?? 2,
      autoBlockTurns: raw.TRIGGER_AUTO_BLOCK_TURNS ?? 20,
      autoBlockIdentical: raw.TRIGGER_AUTO_BLOCK_IDENTICAL ?? 3,
      crashLoopFailures: raw.TRIGGER_CRASH_LOOP_FAILURES ?? 3,
      crashLoopWindowMs: (raw.TRIGGER_CRASH_LOOP_WINDOW_SECONDS ?? 900) * 1000,
      sessionStaleMs: Math.round((raw.SESSION_STALE_HOURS ?? 12) * 3_600_000),
    },
    pipelines: {
      workspaceRoots,
      autoappdevScript: raw.AUTOAPPDEV_PIPELINE_SCRIPT,
      autoappdevCwd: raw.AUTOAPPDEV_PIPELINE_CWD ? absolute(raw.AUTOAPPDEV_PIPELINE_CWD, cwd) : undefined,
    },
    agents: {
      command: raw.AGENT_COMMAND ?? DEFAULT_AGENT_COMMAND,
      concurrency,
      envAllow,
      timeoutMs: (raw.AGENT_TIMEOUT_SECONDS ?? 7200) * 1000,
      silenceMs: (raw.AGENT_SILENCE_TIMEOUT_SECONDS ?? 900) * 1000,
      killGraceMs: raw.AGENT_KILL_GRACE_MS ?? 5000,
      lockMs: raw.AGENT_LOCK_MS ?? 30_000,
      model: raw.AUTOAPPDEV_CODEX_MODEL ?? 'gpt-5.3-codex',
      reasoning: raw.AUTOAPPDEV_CODEX_REASONING ?? 'medium',
      logLineMaxChars: raw.LOG_LINE_MAX_CHARS ?? 4000,
      logLinesPerSecond: raw.LOG_LINES_PER_SECOND ?? 200,
    },
    workflows: {
      maxReviewRounds: raw.WORKFLOW_MAX_REVIEW_ROUNDS ?? 3,
      roleAttempts: raw.WORKFLOW_ROLE_ATTEMPTS ?? 3,
      retryBackoffMs: raw.WORKFLOW_RETRY_BACKOFF_MS ?? 5000,
      promptMaxChars: raw.WORKFLOW_PROMPT_MAX_CHARS ?? 60_000,
      lockLeaseMs: raw.WORKFLOW_LOCK_LEASE_MS ?? 30_000,
      testCommand: raw.WORKFLOW_TEST_COMMAND,
      templatesDir: raw.WORKFLOW_TEMPLATES_DIR ? absolute(raw.WORKFLOW_TEMPLATES_DIR, cwd) : undefined,
      roleModels,
    },
    log: {
      level: raw.LOG_LEVEL ?? 'info',
      debug: raw.LOG_LEVEL === 'debug' || raw.LOG_LEVEL === 'trace',
      pretty: (raw.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json')) === 'pretty',
    },
  };
}

function pickDefined(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''),
  );
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function absolute(path: string, cwd: string): string {
  return isAbsolute(path) ? path : resolve(cwd, path);
}

/** How the gateway verifies tokens (SPEC 4.3): one kind of key, and the claims it insists on. */
export interface AccessSettings {
  key:
    | { kind: 'secret'; secret: Uint8Array }
    | { kind: 'public-key'; key: KeyObject; algorithms: string[] }
    | { kind: 'jwks'; url: URL };
  issuer?: string;
  audience?: string;
}

/** The smallest HS256 secret accepted: as many bytes as the hash (RFC 7518 3.2). */
const MIN_SECRET_BYTES = 32;

function accessSettings(raw: Environment, problems: string[]): AccessSettings | undefined {
  const given = (['GATEWAY_JWT_SECRET', 'GATEWAY_JWT_PUBLIC_KEY', 'GATEWAY_JWKS_URL'] as const).filter(
    (name) => raw[name] !== undefined && raw[name] !== '',
  );
  if (given.length === 0) return undefined;
  if (given.length > 1) {
    problems.push(`${given.join(', ')}: set one way to verify tokens, not ${given.length}`);
    return undefined;
  }
  const claims = {
    ...(raw.GATEWAY_JWT_ISSUER ? { issuer: raw.GATEWAY_JWT_ISSUER } : {}),
    ...(raw.GATEWAY_JWT_AUDIENCE ? { audience: raw.GATEWAY_JWT_AUDIENCE } : {}),
  };
  if (raw.GATEWAY_JWT_SECRET) {
    const secret = new TextEncoder().encode(raw.GATEWAY_JWT_SECRET);
    if (secret.length < MIN_SECRET_BYTES) {
      problems.push(
        `GATEWAY_JWT_SECRET: ${secret.length} bytes; at least ${MIN_SECRET_BYTES} (openssl rand -hex 32)`,
      );
      return undefined;
    }
    return { key: { kind: 'secret', secret }, ...claims };
  }
  if (raw.GATEWAY_JWT_PUBLIC_KEY) {
    let key: KeyObject;
    try {
      // a PEM in the variable itself, with its line breaks, or written with \n as compose files often do
      key = createPublicKey(raw.GATEWAY_JWT_PUBLIC_KEY.replace(/\\n/g, '\n'));
    } catch (error) {
      problems.push(`GATEWAY_JWT_PUBLIC_KEY: not a PEM public key (${(error as Error).message})`);
      return undefined;
    }
    const algorithms =
      key.asymmetricKeyType === 'rsa'
        ? ['RS256']
        : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
          ? ['ES256']
          : [];
    if (algorithms.length === 0) {
      problems.push('GATEWAY_JWT_PUBLIC_KEY: must be an RSA key (RS256) or a P-256 EC key (ES256)');
      return undefined;
    }
    return { key: { kind: 'public-key', key, algorithms }, ...claims };
  }
  if (!URL.canParse(raw.GATEWAY_JWKS_URL ?? '')) return undefined; // reported by its validator
  return { key: { kind: 'jwks', url: new URL(raw.GATEWAY_JWKS_URL!) }, ...claims };
}
