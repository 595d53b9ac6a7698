import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { UnauthorizedError } from '#contracts';
import type { AccessSettings } from '#platform';
import { Grants } from './grants.js';

/** Tokens a few seconds off the gateway's clock are still taken (clocks of two machines drift). */
const CLOCK_TOLERANCE_SECONDS = 30;

/** Why a token was refused, for `guardkit_access_refused_total{reason}`: never told to the client. */
export type RefusalReason =
  'missing' | 'malformed' | 'signature' | 'expired' | 'claims' | 'query' | 'csrf' | 'forbidden';

export class TokenRefused extends UnauthorizedError {
  constructor(
    readonly reason: RefusalReason,
    options?: { cause?: unknown },
  ) {
    // one message whatever failed: nothing that helps a guesser
    super('a valid bearer token is needed', options);
  }
}

/** A verified token: what it allows, and when it stops being valid (epoch seconds), if it says. */
export interface VerifiedToken {
  grants: Grants;
  expiresAt?: number;
}

/**
 * Verifies bearer tokens with jose, with the one key of the settings: an HS256 secret, an RS256/ES256 public key,
 * or a JWKS URL (jose caches its keys and fetches them again for an unknown `kid`, so rotated keys work).
 * `exp` and `nbf` are checked when present, `iss` and `aud` when the settings name them.
 */
export class TokenVerifier {
  private readonly key: Uint8Array | JWTVerifyGetKey | CryptoKeyLike;
  private readonly algorithms: string[];

  /** `jwksCooldownMs`: how soon the key set may be fetched again for an unknown key id (jose's default: 30 s). */
  constructor(
    private readonly settings: AccessSettings,
    options: { jwksCooldownMs?: number } = {},
  ) {
    const { key } = settings;
    if (key.kind === 'secret') {
      this.key = key.secret;
      this.algorithms = ['HS256'];
    } else if (key.kind === 'public-key') {
      this.key = key.key;
      this.algorithms = key.algorithms;
    } else {
      this.key = createRemoteJWKSet(
        key.url,
        options.jwksCooldownMs === undefined ? {} : { cooldownDuration: options.jwksCooldownMs },
      );
      this.algorithms = ['RS256', 'ES256'];
    }
  }

  async verify(token: string | undefined): Promise<VerifiedToken> {
    if (!token) throw new TokenRefused('missing');
    let payload: JWTPayload;
    try {
      const options = {
        algorithms: this.algorithms,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        ...(this.settings.issuer ? { issuer: this.settings.issuer } : {}),
        ...(this.settings.audience ? { audience: this.settings.audience } : {}),
      };
      // (one call per key kind: jose types the key and the key resolver apart)
      ({ payload } =
        typeof this.key === 'function'
          ? await jwtVerify(token, this.key, options)
          : await jwtVerify(token, this.key, options));
    } catch (error) {
      throw new TokenRefused(reasonOf(error), { cause: error });
    }
    let grants: Grants;
    try {
      grants = Grants.fromClaims(payload);
    } catch (error) {
      throw new TokenRefused('claims', { cause: error });
    }
    return { grants, ...(payload.exp === undefined ? {} : { expiresAt: payload.exp }) };
  }
}

type CryptoKeyLike = Exclude<Parameters<typeof jwtVerify>[1], Uint8Array | JWTVerifyGetKey>;

function reasonOf(error: unknown): RefusalReason {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWTClaimValidationFailed) return 'claims';
  if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JWKSNoMatchingKey)
    return 'signature';
  return 'malformed';
}
