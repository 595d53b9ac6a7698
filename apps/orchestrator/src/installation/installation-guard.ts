import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { GuardkitError } from '#contracts';
import { Bus, RpcServer } from '#bus';
import { SETTINGS, type Settings } from '#platform';
import { redisConnection } from '#queues';

/** How long an announcement in Redis lives without being renewed (a stopped installation's goes by itself). */
const ANNOUNCE_TTL_S = 60;
/** How long the NATS question waits for other orchestrators to answer. */
const ASK_MS = 500;

/** Another installation (another database) answers on this NATS namespace or works these Redis queues. */
export class InstallationConflictError extends GuardkitError {
  readonly code = 'INSTALLATION_CONFLICT';
}

class WhoAmIQuery {}

/** What an orchestrator says of itself on `installation.whoami`. */
export interface InstallationInfo {
  installation_id: string;
  database: string;
}

/**
 * One installation is one database. Two installations that share a NATS namespace answer each other's
 * requests (a trigger admitted against the wrong database), and two that share a Redis queue prefix take
 * each other's jobs. At start the orchestrator asks who else answers on its namespace, and looks for other
 * installations announced under its queue prefix; finding one, it refuses to start, naming BUS_NAMESPACE or
 * QUEUE_PREFIX. Replicas of the same installation (same database) are welcome. While it runs it answers the
 * question and renews its announcement.
 */
@Injectable()
export class InstallationGuard implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(InstallationGuard.name);
  private info?: InstallationInfo;
  private timer?: NodeJS.Timeout;
  /** A connection of its own: BullMQ's are for BullMQ. */
  private connection?: Redis;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly bus: Bus,
    private readonly rpc: RpcServer,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async onModuleInit(): Promise<void> {
    const [row] = await this.db.query<[{ id: string; database: string }]>(
      'SELECT id, current_database() AS database FROM installation',
    );
    const info: InstallationInfo = { installation_id: row.id, database: row.database };
    this.info = info;
    await this.checkNats(info);
    await this.checkRedis(info);
    this.rpc.serve('installation.whoami', WhoAmIQuery, () => Promise.resolve(info), { everyInstance: true });
    this.timer = setInterval(
      () => void this.announce(info).catch(() => undefined),
      (ANNOUNCE_TTL_S / 3) * 1000,
    );
    this.timer.unref();
    this.logger.log(info, 'installation');
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    const info = this.info;
    if (info)
      await this.redis()
        .then((redis) => redis.del(this.announceKey(info.installation_id)))
        .catch(() => undefined);
    this.connection?.disconnect();
  }

  private async checkNats(own: InstallationInfo): Promise<void> {
    const others: InstallationInfo[] = [];
    try {
      const answers = await this.bus.nc.requestMany(this.bus.subjects.rpc('installation.whoami'), '{}', {
        maxWait: ASK_MS,
      });
      for await (const msg of answers) {
        const other = msg.json<{ ok: boolean; result?: InstallationInfo }>().result;
        if (other && other.installation_id !== own.installation_id) others.push(other);
      }
    } catch {
      // "no responders": nobody else answers on this namespace
    }
    const [other] = others;
    if (other) {
      throw new InstallationConflictError(
        `another guardkit-stream installation (database ${other.database}) answers on this NATS ` +
          `namespace (BUS_NAMESPACE=${JSON.stringify(this.settings.nats.namespace)}): give each installation ` +
          'its own BUS_NAMESPACE, or point this one at the same DATABASE_URL to run it as a replica',
      );
    }
  }

  private async checkRedis(own: InstallationInfo): Promise<void> {
    const redis = await this.redis();
    const pattern = this.announceKey('*');
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 100);
      for (const key of keys) {
        if (key === this.announceKey(own.installation_id)) continue;
        const database = (await redis.get(key)) ?? 'unknown';
        throw new InstallationConflictError(
          `another guardkit-stream installation (database ${database}) works the queues under ` +
            `QUEUE_PREFIX=${JSON.stringify(this.settings.queues.prefix)} in this Redis: give each installation ` +
            'its own QUEUE_PREFIX, or point this one at the same DATABASE_URL to run it as a replica',
        );
      }
      cursor = next;
    } while (cursor !== '0');
    await this.announce(own);
  }

  private async announce(info: InstallationInfo): Promise<void> {
    const redis = await this.redis();
    await redis.set(this.announceKey(info.installation_id), info.database, 'EX', ANNOUNCE_TTL_S);
  }

  private announceKey(id: string): string {
    return `${this.settings.queues.prefix}:guardkit:installation:${id}`;
  }

  private redis(): Promise<Redis> {
    if (!this.connection) {
      this.connection = new Redis({ ...redisConnection(this.settings.redis.url), maxRetriesPerRequest: 1 });
      // a lost Redis is said once by RedisLink; without a listener ioredis prints every failed reconnect
      this.connection.on('error', () => undefined);
    }
    return Promise.resolve(this.connection);
  }
}
