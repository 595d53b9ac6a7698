import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { SessionRuntime } from '#contracts';

/** An agent's terminal session, as the agent (or its launcher) registered it. */
@Entity({ name: 'sessions' })
export class SessionEntity {
  @PrimaryColumn({ name: 'session_id', type: 'text' }) sessionId: string;
  @Column({ name: 'agent_id', type: 'text' }) agentId: string;
  @Column({ name: 'workspace_id', type: 'text' }) workspaceId: string;
  @Column({ name: 'thread_id', type: 'text', nullable: true }) threadId: string | null;
  @Column({ type: 'text' }) runtime: SessionRuntime;
  @Column({ name: 'tmux_target', type: 'text' }) tmuxTarget: string;
  @Column({ type: 'boolean' }) managed: boolean;
  @Column({ type: 'boolean' }) resumable: boolean;
  @Column({ name: 'registered_at', type: 'timestamptz' }) registeredAt: Date;
  @Column({ name: 'last_heartbeat_at', type: 'timestamptz' }) lastHeartbeatAt: Date;
  @Column({ name: 'deregistered_at', type: 'timestamptz', nullable: true }) deregisteredAt: Date | null;
}
