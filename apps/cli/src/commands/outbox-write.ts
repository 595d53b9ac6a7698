import type { GatewayClient } from '../gateway-client.js';
import type { Output } from '../output.js';

/** `outbox write <text> [role]`: posts a message to the outbox as AutoAppDev's API does (source `api`). */
export async function outboxWrite(
  gateway: GatewayClient,
  text: string,
  role: string | undefined,
  options: { json?: boolean },
  out: Output,
): Promise<void> {
  const answer = await gateway.call<{ ok: boolean }>('POST', '/api/outbox', {
    content: text,
    ...(role ? { role } : {}),
  });
  if (options.json) out.json(answer);
  else out.warn('posted');
}
