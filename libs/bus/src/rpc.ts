import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { type Msg, type Subscription, RequestError, TimeoutError } from '@nats-io/nats-core';
import { type ClassConstructor } from 'class-transformer';
import {
  BusUnavailableError,
  GuardkitError,
  RemoteError,
  type RpcMethod,
  type RpcReply,
  ServiceUnavailableError,
  validatePlain,
} from '#contracts';
import { SETTINGS, type Settings } from '#platform';
import { Bus } from './bus.js';

/**
 * Request/reply over core NATS with plain JSON, so any client (nats CLI, Python, the gateway) can call it:
 * the request is the DTO's JSON, the reply `{ok:true,result}` or `{ok:false,error:{code,message}}`.
 * Servers join a queue group per method, so several replicas share the load. At most RPC_CONCURRENCY
 * requests are handled at once (the rest wait their turn in arrival order), so a burst cannot take every
 * database connection from the workers.
 */
@Injectable()
export class RpcServer implements OnModuleDestroy {
  private readonly logger = new Logger(RpcServer.name);
  private readonly subscriptions: Subscription[] = [];
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly bus: Bus,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  /** Requests being handled now, and waiting for a turn. */
  load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }

  /** `everyInstance`: every replica answers (no queue group), for questions about the replicas themselves. */
  serve<Q extends object, R>(
    method: RpcMethod,
    dto: ClassConstructor<Q>,
    handler: (query: Q) => Promise<R>,
    options: { everyInstance?: boolean } = {},
  ): void {
    const subject = this.bus.subjects.rpc(method);
    const subscription = this.bus.nc.subscribe(subject, {
      ...(options.everyInstance ? {} : { queue: `guardkit.rpc.${method}` }),
      callback: (error, msg) => {
        if (error) {
          this.logger.error({ err: error, method }, 'rpc subscription failed');
          return;
        }
        void this.inTurn(() => this.answer(msg, method, dto, handler));
      },
    });
    this.subscriptions.push(subscription);
  }

  private async inTurn(work: () => Promise<void>): Promise<void> {
    if (this.active >= this.settings.nats.rpcConcurrency) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active += 1;
    }
    try {
      await work();
    } finally {
      const next = this.waiting.shift();
      if (next)
        next(); // the turn passes on: `active` stays the same
      else this.active -= 1;
    }
  }

  onModuleDestroy(): void {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
  }

  private async answer<Q extends object, R>(
    msg: Msg,
    method: RpcMethod,
    dto: ClassConstructor<Q>,
    handler: (query: Q) => Promise<R>,
  ): Promise<void> {
    let reply: RpcReply<R>;
    try {
      const query = validatePlain(dto, msg.data.length === 0 ? {} : msg.json());
      reply = query.ok
        ? { ok: true, result: await handler(query.value) }
        : { ok: false, error: { code: 'INVALID_PAYLOAD', message: query.problems.join('; ') } };
    } catch (error) {
      if (error instanceof GuardkitError) {
        reply = { ok: false, error: { code: error.code, message: error.message } };
      } else if (error instanceof SyntaxError) {
        reply = { ok: false, error: { code: 'INVALID_PAYLOAD', message: 'the request is not JSON' } };
      } else {
        this.logger.error({ err: error, method }, 'rpc handler failed');
        reply = { ok: false, error: { code: 'INTERNAL', message: 'internal error' } };
      }
    }
    msg.respond(JSON.stringify(reply));
  }
}

@Injectable()
export class RpcClient {
  constructor(
    private readonly bus: Bus,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  /**
   * Calls a method; a remote error comes back as a RemoteError with the remote code. `tries` > 1 sends the
   * same request again when no answer came: only for a method that answers a repeated request as the first
   * (triggers.create with a request_id).
   */
  async call<R>(method: RpcMethod, query: object, tries = 1): Promise<R> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.callOnce<R>(method, query);
      } catch (error) {
        if (!(error instanceof ServiceUnavailableError) || attempt >= tries) throw error;
      }
    }
  }

  private async callOnce<R>(method: RpcMethod, query: object): Promise<R> {
    // NATS is away, not the orchestrator: say which, at once, rather than after a request timeout
    if (!this.bus.isConnected()) throw natsAway(method);
    let msg: Msg;
    try {
      msg = await this.bus.nc.request(this.bus.subjects.rpc(method), JSON.stringify(query), {
        timeout: this.settings.nats.requestTimeoutMs,
      });
    } catch (error) {
      if (!this.bus.isConnected()) throw natsAway(method, error);
      if (error instanceof RequestError || error instanceof TimeoutError) {
        throw new ServiceUnavailableError(`no answer from ${method}: is the orchestrator running?`, {
          cause: error,
        });
      }
      throw error;
    }
    const reply = msg.json<RpcReply<R>>();
    if (reply.ok) return reply.result;
    throw new RemoteError(reply.error.code, reply.error.message);
  }
}

function natsAway(method: RpcMethod, cause?: unknown): BusUnavailableError {
  return new BusUnavailableError(`NATS is not reachable (reconnecting); ${method} could not be asked`, {
    cause,
  });
}
