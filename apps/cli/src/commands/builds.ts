import type { BuildPage } from '#contracts';
import type { GatewayClient } from '../gateway-client.js';
import { type Output, paint } from '../output.js';

export interface BuildsOptions {
  status?: string;
  limit?: string;
  json?: boolean;
}

/** `builds`: the newest builds, most recently active first, one per line (or the page as JSON). */
export async function listBuilds(
  gateway: GatewayClient,
  options: BuildsOptions,
  out: Output,
  tty = Boolean(process.stdout.isTTY),
): Promise<void> {
  const query = new URLSearchParams();
  if (options.status) query.set('status', options.status);
  query.set('limit', options.limit ?? '20');
  const page = await gateway.call<BuildPage>('GET', `/builds?${query.toString()}`);
  if (options.json) return out.json(page);
  if (page.items.length === 0) return out.warn('no builds yet');
  const width = Math.max(...page.items.map((b) => b.build_id.length));
  for (const b of page.items) {
    const p = b.latest;
    const kind = typeof p.build_type === 'string' ? p.build_type : 'task';
    out.line(
      [
        b.build_id.padEnd(width),
        paint(b.status.padEnd(9), tty),
        `${String(b.progress_pct).padStart(3)}%`,
        kind.padEnd(8),
        `${p.phase}${b.stale ? ' (stale)' : ''}`,
        new Date(b.received_at).toLocaleString(),
      ].join('  '),
    );
  }
}
