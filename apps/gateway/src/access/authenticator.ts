import type { IncomingMessage } from 'node:http';
import { parse as parseCookie } from 'cookie';
import { ForbiddenError } from '#contracts';
import type { AccessSettings } from '#platform';
import { type RefusalReason, TokenRefused, TokenVerifier, type VerifiedToken } from './token-verifier.js';

/** The browser session's cookie (`POST /auth/session`): the token itself, HttpOnly, SameSite=Strict. */
export const SESSION_COOKIE = 'gk_session';

/** Methods that change something: CSRF-checked by cookie, audited on run and admin routes. */
export const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A refusal that is not about the token itself: its reason for the metrics. */
export class AccessRefused extends ForbiddenError {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

export type Credentials = { token?: string; via: 'header' | 'cookie' | 'query' | 'none' };

/**
 * Where a request's token comes from, and whether it may come from there (SPEC 4.3): the Authorization header;
 * else the session cookie, and then a state-changing request must come from the same origin (CSRF); a token in
 * the query string only with GATEWAY_ALLOW_QUERY_TOKEN=true (the logs redact it).
 */
export class Authenticator {
  private readonly verifier: TokenVerifier;

  constructor(
    settings: AccessSettings,
    private readonly allowQueryToken: boolean,
  ) {
    this.verifier = new TokenVerifier(settings);
  }

  async authenticate(req: IncomingMessage): Promise<VerifiedToken & { via: Credentials['via'] }> {
    const credentials = this.credentialsOf(req);
    const verified = await this.verifier.verify(credentials.token);
    if (credentials.via === 'cookie' && UNSAFE_METHODS.has(req.method ?? '') && !sameOrigin(req)) {
      throw new AccessRefused(
        'csrf',
        'a request authenticated by the session cookie must come from the gateway`s own pages',
      );
    }
    return { ...verified, via: credentials.via };
  }

  credentialsOf(req: IncomingMessage): Credentials {
    const bearer = bearerOf(req);
    if (bearer) return { token: bearer, via: 'header' };
    const query = new URL(req.url ?? '/', 'http://gateway').searchParams.get('access_token');
    if (query !== null) {
      if (!this.allowQueryToken) {
        throw new TokenRefused('query');
      }
      return { token: query, via: 'query' };
    }
    const cookie = req.headers.cookie ? parseCookie(req.headers.cookie)[SESSION_COOKIE] : undefined;
    if (cookie) return { token: cookie, via: 'cookie' };
    return { via: 'none' };
  }
}

/** The token of an `Authorization: Bearer …` header. */
export function bearerOf(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  return header ? /^Bearer\s+(\S+)$/i.exec(header)?.[1] : undefined;
}

/** The browser says the request comes from a page of the same origin (Fetch metadata, else Origin vs Host). */
function sameOrigin(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string') return site === 'same-origin';
  const origin = req.headers.origin;
  if (!origin) return false;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}
