import { ForbiddenError, UnauthorizedError } from '#contracts';

/**
 * What a token's `gk` claim allows (SPEC 4.3): builds it may read (ids, or prefixes ending in `*`; `*` alone is
 * all), outbox sources it may read and post to, agents it may wake, whether it may start and control pipelines
 * and workflows (`run`), and the board, dead letters, sessions, agents' concurrency and the audit log
 * (`admin`). A missing key allows nothing.
 */
export class Grants {
  private constructor(
    readonly subject: string | undefined,
    private readonly builds: readonly string[],
    private readonly outbox: readonly string[],
    private readonly trigger: readonly string[],
    readonly run: boolean,
    readonly admin: boolean,
  ) {}

  /** Everything: access is open (no key set). */
  static readonly ALL = new Grants(undefined, ['*'], ['*'], ['*'], true, true);

  /** The grants of a verified token's payload; a `gk` claim of the wrong shape is refused as a bad token. */
  static fromClaims(payload: { sub?: unknown; gk?: unknown }): Grants {
    const gk = payload.gk ?? {};
    if (typeof gk !== 'object' || gk === null || Array.isArray(gk)) throw badClaim('gk is not an object');
    const claim = gk as Record<string, unknown>;
    const list = (name: string): string[] => {
      const value = claim[name];
      if (value === undefined) return [];
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) {
        throw badClaim(`gk.${name} is not a list of names`);
      }
      return value as string[];
    };
    const flag = (name: string): boolean => {
      const value = claim[name];
      if (value === undefined) return false;
      if (typeof value !== 'boolean') throw badClaim(`gk.${name} is not true or false`);
      return value;
    };
    const subject = typeof payload.sub === 'string' ? payload.sub : undefined;
    return new Grants(subject, list('builds'), list('outbox'), list('trigger'), flag('run'), flag('admin'));
  }

  get everyBuild(): boolean {
    return this.builds.includes('*');
  }

  canReadBuild(buildId: string): boolean {
    return matches(this.builds, buildId);
  }

  canUseOutbox(source: string): boolean {
    return matches(this.outbox, source);
  }

  canTrigger(agent: string): boolean {
    return matches(this.trigger, agent);
  }

  /** Whether the token may wake any agent at all. */
  get hasTriggerGrants(): boolean {
    return this.trigger.length > 0;
  }

  /** The outbox sources to serve when none is named: every one, the named ones, or undefined for prefixes. */
  outboxSources(): 'all' | string[] | undefined {
    if (this.outbox.includes('*')) return 'all';
    return this.outbox.some((source) => source.endsWith('*')) ? undefined : [...this.outbox];
  }

  /** Throws the 403 of SPEC 4.3 unless `allowed`; the message names the kind of grant, not what exists. */
  require(allowed: boolean, what: string): void {
    if (!allowed) throw new ForbiddenError(`the token does not allow ${what}`);
  }
}

/** `TASK-*` matches every id that starts with `TASK-`; `*` alone matches all; anything else matches itself. */
function matches(patterns: readonly string[], name: string): boolean {
  return patterns.some((pattern) =>
    pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : pattern === name,
  );
}

function badClaim(reason: string): UnauthorizedError {
  return new UnauthorizedError(`the token's claims are not valid: ${reason}`);
}
