// `npm run compose:env`: gives docker compose a gateway key. Writes GATEWAY_JWT_SECRET (32 random bytes, hex)
// into .env beside docker-compose.yml unless one is there already, then says how to mint an admin token.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../.env', import.meta.url);
const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
if (/^GATEWAY_JWT_SECRET=\S+/m.test(current)) {
  console.log('.env already has a GATEWAY_JWT_SECRET; left as it is');
} else {
  const line = `GATEWAY_JWT_SECRET=${randomBytes(32).toString('hex')}\n`;
  writeFileSync(file, `${current}${current === '' || current.endsWith('\n') ? '' : '\n'}${line}`, {
    mode: 0o600,
  });
  console.log('wrote a new GATEWAY_JWT_SECRET into .env (mode 600)');
}
console.log(
  'an admin token for the board and the API:\n' +
    '  set -a; . ./.env; set +a; npx guardkit-stream token --sub you --admin --run --read "*" --ttl 8h',
);
