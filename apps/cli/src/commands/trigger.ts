import type { TriggerCreated } from '#contracts';
import type { GatewayClient } from '../gateway-client.js';
import type { Output } from '../output.js';

export interface TriggerOptions {
  thread: string;
  workspace: string;
  reason?: string;
  key?: string;
  json?: boolean;
}

/** `trigger <agent> <prompt> --thread T --workspace W`: wakes an agent (SPEC 5); prints the trigger and decision. */
export async function trigger(
  gateway: GatewayClient,
  agent: string,
  prompt: string,
  options: TriggerOptions,
  out: Output,
): Promise<void> {
  const created = await gateway.call<TriggerCreated>('POST', '/triggers', {
    target_agent_id: agent,
    workspace_id: options.workspace,
    thread_id: options.thread,
    reason: options.reason ?? 'guardkit-stream trigger',
    prompt,
    ...(options.key ? { idempotency_key: options.key } : {}),
  });
  if (options.json) return out.json(created);
  out.line(created.trigger_id);
  out.warn(
    `trigger ${created.trigger_id}: ${created.decision} (${created.state}${created.created ? '' : ', an earlier one with the same key'})`,
  );
}
