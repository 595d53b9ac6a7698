import { isIPv4, isIPv6 } from 'node:net';
import { type Settings, SettingsError } from '#platform';

/** Names and addresses that only this machine reaches. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) return host === '::1' || host.startsWith('::ffff:127.');
  return false;
}

/**
 * SPEC 4.3: the gateway types into terminals, starts commands and streams what agents do, so it serves an
 * address other machines reach only with a key set, or when GATEWAY_OPEN=true says that is meant.
 */
export function assertSafeBinding(gateway: Settings['gateway']): void {
  if (gateway.access || gateway.open || isLoopback(gateway.host)) return;
  throw new SettingsError(
    `GATEWAY_HOST=${gateway.host} is reachable from other machines and no key is set: set GATEWAY_JWT_SECRET ` +
      '(openssl rand -hex 32; `npm run compose:env` writes one into .env for docker compose), ' +
      'GATEWAY_JWT_PUBLIC_KEY or GATEWAY_JWKS_URL; or GATEWAY_OPEN=true to serve everyone without tokens',
  );
}
