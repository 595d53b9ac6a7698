import { SignJWT } from 'jose';
import { CliExit, type Output } from '../output.js';

export interface TokenOptions {
  sub: string;
  read: string[];
  outbox: string[];
  trigger: string[];
  run?: boolean;
  admin?: boolean;
  ttl: string;
  iss?: string;
  aud?: string;
}

/** As the gateway requires of GATEWAY_JWT_SECRET. */
const MIN_SECRET_BYTES = 32;

/**
 * `token`: an HS256 token for small setups, signed with GATEWAY_JWT_SECRET from the environment, with the `gk`
 * claim of SPEC 4.3. With an identity provider, mint tokens there instead (docs: README, Access).
 */
export async function token(options: TokenOptions, out: Output, env = process.env): Promise<void> {
  const secret = env['GATEWAY_JWT_SECRET'] ?? '';
  const key = new TextEncoder().encode(secret);
  if (key.length < MIN_SECRET_BYTES) {
    throw new CliExit(
      2,
      secret === ''
        ? 'GATEWAY_JWT_SECRET is not set: the token is signed with the gateway`s secret'
        : `GATEWAY_JWT_SECRET: ${key.length} bytes; at least ${MIN_SECRET_BYTES}`,
    );
  }
  if (!/^\d+\s*[smhdw]$/.test(options.ttl)) {
    throw new CliExit(2, `--ttl ${options.ttl}: a number and s, m, h, d or w (30m, 1h, 7d)`);
  }
  const gk = {
    ...(options.read.length > 0 ? { builds: options.read } : {}),
    ...(options.outbox.length > 0 ? { outbox: options.outbox } : {}),
    ...(options.trigger.length > 0 ? { trigger: options.trigger } : {}),
    ...(options.run ? { run: true } : {}),
    ...(options.admin ? { admin: true } : {}),
  };
  const jwt = new SignJWT({ gk })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.sub)
    .setIssuedAt()
    .setExpirationTime(options.ttl.replace(/\s+/g, ''));
  if (options.iss) jwt.setIssuer(options.iss);
  if (options.aud) jwt.setAudience(options.aud);
  out.line(await jwt.sign(key));
}
