import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { exportJWK, SignJWT } from 'jose';
import { ForbiddenError } from '#contracts';
import { loadSettings, SettingsError } from '#platform';
import { Grants } from './grants.js';
import { TokenRefused, TokenVerifier } from './token-verifier.js';

const SECRET = 'a-test-secret-of-at-least-thirty-two-bytes';
const sign = (
  claims: Record<string, unknown>,
  key: Parameters<SignJWT['sign']>[0],
  alg = 'HS256',
  kid?: string,
) => new SignJWT(claims).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).sign(key);
const secretKey = new TextEncoder().encode(SECRET);
const verifierFor = (env: Record<string, string>) =>
  new TokenVerifier(loadSettings(env).gateway.access!, { jwksCooldownMs: 50 });
const refusal = async (promise: Promise<unknown>) =>
  promise.then(
    () => 'accepted',
    (error: unknown) => (error instanceof TokenRefused ? error.reason : String(error)),
  );

describe('Grants (the gk claim)', () => {
  it('matches ids, prefixes ending in * and * alone; a missing key allows nothing', () => {
    const grants = Grants.fromClaims({ gk: { builds: ['TASK-*', 'run-42'], trigger: ['*'] } });
    assert.ok(grants.canReadBuild('TASK-7') && grants.canReadBuild('run-42'));
    assert.ok(!grants.canReadBuild('run-421') && !grants.canReadBuild('OTHER'));
    assert.ok(grants.canTrigger('anyone'));
    assert.ok(!grants.canUseOutbox('local') && !grants.run && !grants.admin, 'missing keys allow nothing');
    assert.ok(!Grants.fromClaims({}).canReadBuild('TASK-1'), 'no gk at all allows nothing');
  });

  it('refuses a claim of the wrong shape as a bad token, and a refusal as a 403', () => {
    assert.throws(() => Grants.fromClaims({ gk: { builds: 'TASK-*' } }), /gk.builds is not a list/);
    assert.throws(() => Grants.fromClaims({ gk: { admin: 'yes' } }), /gk.admin is not true or false/);
    assert.throws(() => Grants.fromClaims({ gk: [] }), /gk is not an object/);
    assert.throws(() => Grants.fromClaims({}).require(false, 'x'), ForbiddenError);
  });
});

describe('TokenVerifier', () => {
  it('takes a good HS256 token, and says why it refuses the others (never to the client)', async () => {
    const verifier = verifierFor({ GATEWAY_JWT_SECRET: SECRET });
    const now = Math.floor(Date.now() / 1000);
    const good = await verifier.verify(
      await sign({ sub: 'me', exp: now + 60, gk: { admin: true } }, secretKey),
    );
    assert.ok(good.grants.admin && good.grants.subject === 'me' && good.expiresAt === now + 60);
    const other = new TextEncoder().encode('another-secret-of-at-least-thirty-two-bytes');
    assert.equal(await refusal(verifier.verify(undefined)), 'missing');
    assert.equal(await refusal(verifier.verify('not.a.token')), 'malformed');
    assert.equal(await refusal(verifier.verify(await sign({ gk: {} }, other))), 'signature');
    assert.equal(await refusal(verifier.verify(await sign({ exp: now - 120 }, secretKey))), 'expired');
    assert.equal(await refusal(verifier.verify(await sign({ nbf: now + 120 }, secretKey))), 'claims');
    assert.equal(await refusal(verifier.verify(await sign({ gk: { run: 1 } }, secretKey))), 'claims');
    const refused = await verifier.verify(undefined).catch((e: Error) => e);
    assert.equal(
      (refused as Error).message,
      'a valid bearer token is needed',
      'one message for every refusal',
    );
  });

  it('takes a token a little past its exp (clock skew), not one a minute past it', async () => {
    const verifier = verifierFor({ GATEWAY_JWT_SECRET: SECRET });
    const now = Math.floor(Date.now() / 1000);
    assert.equal(await refusal(verifier.verify(await sign({ exp: now - 10 }, secretKey))), 'accepted');
    assert.equal(await refusal(verifier.verify(await sign({ exp: now - 60 }, secretKey))), 'expired');
  });

  it('checks iss and aud when the settings name them', async () => {
    const verifier = verifierFor({
      GATEWAY_JWT_SECRET: SECRET,
      GATEWAY_JWT_ISSUER: 'https://id.example',
      GATEWAY_JWT_AUDIENCE: 'guardkit',
    });
    const ok = await sign({ iss: 'https://id.example', aud: 'guardkit' }, secretKey);
    assert.equal(await refusal(verifier.verify(ok)), 'accepted');
    assert.equal(
      await refusal(verifier.verify(await sign({ iss: 'https://id.example', aud: 'other' }, secretKey))),
      'claims',
    );
    assert.equal(await refusal(verifier.verify(await sign({ aud: 'guardkit' }, secretKey))), 'claims');
  });

  it('verifies RS256 with a PEM public key, and refuses an HS256 token signed with that PEM as a secret', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const verifier = verifierFor({ GATEWAY_JWT_PUBLIC_KEY: pem });
    assert.equal(await refusal(verifier.verify(await sign({ gk: {} }, privateKey, 'RS256'))), 'accepted');
    const confused = await sign({ gk: { admin: true } }, new TextEncoder().encode(pem), 'HS256');
    assert.equal(await refusal(verifier.verify(confused)), 'malformed', 'algorithm confusion refused');
  });

  describe('with a JWKS URL', () => {
    let server: Server;
    const keys: Record<string, unknown>[] = [];
    before(async () => {
      server = createServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ keys }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    after(() => server.close());

    it('takes tokens of a key it fetches, and of a key rotated in later', async () => {
      const address = server.address() as { port: number };
      const verifier = verifierFor({ GATEWAY_JWKS_URL: `http://127.0.0.1:${address.port}/jwks.json` });
      const first = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      keys.push({ ...(await exportJWK(first.publicKey)), kid: 'k1', alg: 'ES256' });
      assert.equal(
        await refusal(verifier.verify(await sign({}, first.privateKey, 'ES256', 'k1'))),
        'accepted',
      );
      const second = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      keys.push({ ...(await exportJWK(second.publicKey)), kid: 'k2', alg: 'ES256' });
      // jose fetches the set again for a kid it does not know (after its cooldown, 50 ms here)
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(
        await refusal(verifier.verify(await sign({}, second.privateKey, 'ES256', 'k2'))),
        'accepted',
      );
      const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      assert.equal(
        await refusal(verifier.verify(await sign({}, stranger.privateKey, 'ES256', 'k9'))),
        'signature',
      );
    });
  });
});

describe('access settings', () => {
  it('refuse a short secret, two keys at once and a PEM that is not one, naming the setting', () => {
    assert.throws(
      () => loadSettings({ GATEWAY_JWT_SECRET: 'short' }),
      /GATEWAY_JWT_SECRET: 5 bytes; at least 32/,
    );
    assert.throws(
      () => loadSettings({ GATEWAY_JWT_SECRET: SECRET, GATEWAY_JWKS_URL: 'https://id.example/jwks' }),
      /set one way to verify tokens/,
    );
    assert.throws(
      () => loadSettings({ GATEWAY_JWT_PUBLIC_KEY: 'nonsense' }),
      /GATEWAY_JWT_PUBLIC_KEY: not a PEM/,
    );
    assert.throws(() => loadSettings({ GATEWAY_JWKS_URL: 'not a url' }), SettingsError);
    assert.equal(loadSettings({}).gateway.access, undefined, 'open without a key');
  });
});
