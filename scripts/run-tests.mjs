// Runs the compiled tests with node's test runner: `unit` (every *.spec.js beside the code) or
// `integration` (test/integration/*.test.js, one file at a time, against the real services).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const kind = process.argv[2];
if (kind !== 'unit' && kind !== 'integration') {
  console.error('usage: run-tests.mjs unit|integration [filter]');
  process.exit(2);
}
const filter = process.argv[3];

function find(dir, suffix) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return find(path, suffix);
    return entry.name.endsWith(suffix) ? [path] : [];
  });
}

const files = (
  kind === 'unit'
    ? ['apps', 'libs'].flatMap((d) => find(join('dist', d), '.spec.js'))
    : find('dist/test/integration', '.test.js')
)
  .filter((f) => !filter || f.includes(filter))
  .sort();
if (files.length === 0) {
  console.error(`no ${kind} tests found: run npm run build first`);
  process.exit(1);
}
const args = [
  '--enable-source-maps',
  '--test',
  '--test-reporter=spec',
  `--test-concurrency=${kind === 'unit' ? 2 : 1}`,
  `--test-timeout=${kind === 'unit' ? 30_000 : 120_000}`,
  ...files,
];
const { status } = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(status ?? 1);
