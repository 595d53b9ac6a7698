import { createHash } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import { SETTINGS, type Settings } from '#platform';
import { redisConnection } from '#queues';

/** A holder's claim on a workspace: the fencing token orders holders (a later holder has a larger one). */
export interface WorkspaceLease {
  cwd: string;
  holder: string;
  token: number;
}

// Written here because the fencing token must be taken in the same step as the lock; Redlock gives none.
const ACQUIRE = `if redis.call('EXISTS', KEYS[1]) == 1 then return nil end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ' ' .. ARGV[1], 'PX', ARGV[2])
return token`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * One holder at a time per workspace (the implementer's, SPEC 6.2): a Redis key with a lease, renewed while
 * its holder works and lapsing when the holder dies, so a crashed worker never blocks the next round. Each
 * acquisition takes a new fencing token; a holder whose lease lapsed finds its token gone and must not record
 * its work.
 */
@Injectable()
export class WorkspaceLocks implements OnApplicationShutdown {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(@Inject(SETTINGS) private readonly settings: Settings) {
    this.redis = new Redis({ ...redisConnection(settings.redis.url), lazyConnect: true });
    this.redis.on('error', () => undefined); // the queues' connections say it; commands reject meanwhile
    this.prefix = `${settings.queues.prefix}:workspace`;
  }

  private key(cwd: string): string {
    return `${this.prefix}:lock:${createHash('sha256').update(cwd).digest('hex').slice(0, 32)}`;
  }

  get leaseMs(): number {
    return this.settings.workflows.lockLeaseMs;
  }

  /** The lease, or undefined while another holder has the workspace. */
  async acquire(cwd: string, holder: string): Promise<WorkspaceLease | undefined> {
    const token = (await this.redis.eval(
      ACQUIRE,
      2,
      this.key(cwd),
      `${this.prefix}:fence`,
      holder,
      this.leaseMs,
    )) as number | null;
    return token === null ? undefined : { cwd, holder, token };
  }

  /** Extends the lease; false when it was lost (it lapsed and maybe another holder took the workspace). */
  async renew(lease: WorkspaceLease): Promise<boolean> {
    const value = `${lease.token} ${lease.holder}`;
    return ((await this.redis.eval(RENEW, 1, this.key(lease.cwd), value, this.leaseMs)) as number) === 1;
  }

  async release(lease: WorkspaceLease): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key(lease.cwd), `${lease.token} ${lease.holder}`);
  }

  /** Who holds a workspace now (`token holder`), for views and tests. */
  async holderOf(cwd: string): Promise<string | null> {
    return this.redis.get(this.key(cwd));
  }

  onApplicationShutdown(): void {
    this.redis.disconnect();
  }
}
