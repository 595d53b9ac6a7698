import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type Repository } from 'typeorm';
import {
  ListSessionsQuery,
  NotFoundError,
  RegisterSessionDto,
  SessionIdQuery,
  type SessionView,
} from '#contracts';
import { RpcServer } from '#bus';
import { CLOCK, type Clock, SETTINGS, type Settings } from '#platform';
import { SessionEntity } from './session.entity.js';

/**
 * The session registry (SPEC 5): agents register their terminal session, heartbeat, and deregister.
 * A session whose last heartbeat is older than SESSION_STALE_HOURS is stale; it stays listed, as history.
 */
@Injectable()
export class SessionRegistry implements OnModuleInit {
  constructor(
    private readonly rpc: RpcServer,
    @InjectRepository(SessionEntity) private readonly sessions: Repository<SessionEntity>,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.rpc.serve('sessions.register', RegisterSessionDto, (dto) => this.register(dto));
    this.rpc.serve('sessions.heartbeat', SessionIdQuery, (q) => this.heartbeat(q.session_id));
    this.rpc.serve('sessions.deregister', SessionIdQuery, (q) => this.deregister(q.session_id));
    this.rpc.serve('sessions.get', SessionIdQuery, async (q) => this.view(await this.find(q.session_id)));
    this.rpc.serve('sessions.list', ListSessionsQuery, (q) => this.list(q));
  }

  /** Registers a session, or updates and revives the one with this session_id. */
  async register(dto: RegisterSessionDto): Promise<SessionView> {
    const now = this.clock.now();
    const existing = dto.session_id ? await this.sessions.findOneBy({ sessionId: dto.session_id }) : null;
    const session = this.sessions.create({
      sessionId: dto.session_id ?? randomUUID(),
      agentId: dto.agent_id,
      workspaceId: dto.workspace_id,
      threadId: dto.thread_id ?? null,
      runtime: dto.runtime,
      tmuxTarget: dto.tmux_target,
      managed: dto.managed,
      resumable: dto.resumable,
      registeredAt: existing?.registeredAt ?? now,
      lastHeartbeatAt: now,
      deregisteredAt: null,
    });
    await this.sessions.save(session);
    return this.view(session);
  }

  async heartbeat(sessionId: string): Promise<SessionView> {
    const session = await this.find(sessionId);
    if (session.deregisteredAt) {
      throw new NotFoundError(`session ${sessionId} was deregistered: register it again`);
    }
    session.lastHeartbeatAt = this.clock.now();
    await this.sessions.update({ sessionId }, { lastHeartbeatAt: session.lastHeartbeatAt });
    return this.view(session);
  }

  async deregister(sessionId: string): Promise<SessionView> {
    const session = await this.find(sessionId);
    session.deregisteredAt ??= this.clock.now();
    await this.sessions.update({ sessionId }, { deregisteredAt: session.deregisteredAt });
    return this.view(session);
  }

  async list(query: ListSessionsQuery): Promise<{ items: SessionView[] }> {
    const rows = await this.sessions.find({
      where: {
        ...(query.agent_id ? { agentId: query.agent_id } : {}),
        ...(query.workspace_id ? { workspaceId: query.workspace_id } : {}),
      },
      order: { lastHeartbeatAt: 'DESC' },
      take: 500,
    });
    return { items: rows.map((row) => this.view(row)) };
  }

  /** The agent's session a trigger goes to: the one heard from last. */
  latestFor(workspaceId: string, agentId: string): Promise<SessionEntity | null> {
    return this.sessions.findOne({
      where: { workspaceId, agentId },
      order: { lastHeartbeatAt: 'DESC' },
    });
  }

  async find(sessionId: string): Promise<SessionEntity> {
    const session = await this.sessions.findOneBy({ sessionId });
    if (!session) throw new NotFoundError(`no session ${sessionId}`);
    return session;
  }

  view(session: SessionEntity): SessionView {
    return {
      session_id: session.sessionId,
      agent_id: session.agentId,
      workspace_id: session.workspaceId,
      thread_id: session.threadId,
      runtime: session.runtime,
      tmux_target: session.tmuxTarget,
      managed: session.managed,
      resumable: session.resumable,
      registered_at: session.registeredAt.toISOString(),
      last_heartbeat_at: session.lastHeartbeatAt.toISOString(),
      deregistered_at: session.deregisteredAt?.toISOString() ?? null,
      stale:
        this.clock.now().getTime() - session.lastHeartbeatAt.getTime() >
        this.settings.triggers.sessionStaleMs,
    };
  }
}
