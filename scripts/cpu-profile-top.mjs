#!/usr/bin/env node
// Summarizes a V8 CPU profile (`node --cpu-prof`, `npm run bench:e2e -- --profile`) without a browser: the
// functions that spent the most time themselves (self), or with what they called (--inclusive), counting only
// samples between --skip-ms and --until-ms (a service's start, module loading, is not the benchmark).
// Usage: node scripts/cpu-profile-top.mjs <file.cpuprofile> [--inclusive] [--skip-ms N] [--until-ms N] [--top N]
//        [--match TEXT]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    inclusive: { type: 'boolean', default: false },
    'skip-ms': { type: 'string', default: '0' },
    'until-ms': { type: 'string' },
    top: { type: 'string', default: '25' },
    match: { type: 'string' },
  },
});
const [file] = positionals;
if (!file) {
  console.error(
    'usage: node scripts/cpu-profile-top.mjs <file.cpuprofile> [--inclusive] [--skip-ms N] [--top N]',
  );
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n) => {
  const f = n.callFrame;
  const where = f.url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*?\/dist\//, 'dist/');
  return `${f.functionName || '(anonymous)'}  ${where}${where ? `:${f.lineNumber + 1}` : ''}`;
};
const skip = Number(values['skip-ms']) * 1000;
const until = values['until-ms'] === undefined ? Infinity : Number(values['until-ms']) * 1000;
const ms = new Map();
let elapsed = 0;
let counted = 0;
let busy = 0;
profile.samples.forEach((id, i) => {
  const delta = profile.timeDeltas[i] ?? 0;
  elapsed += delta;
  if (elapsed < skip || elapsed > until) return;
  counted += delta;
  const leaf = nodes.get(id);
  if (leaf.callFrame.functionName !== '(idle)') busy += delta;
  if (!values.inclusive) {
    ms.set(label(leaf), (ms.get(label(leaf)) ?? 0) + delta);
    return;
  }
  const seen = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const key = label(nodes.get(at));
    if (seen.has(key)) continue;
    seen.add(key);
    ms.set(key, (ms.get(key) ?? 0) + delta);
  }
});
console.log(
  `${file}: ${(counted / 1000).toFixed(0)} ms sampled from ${values['skip-ms']} ms, ${(busy / 1000).toFixed(0)} ms busy (${values.inclusive ? 'inclusive' : 'self'} time)`,
);
const rows = [...ms]
  .filter(([key]) => !values.match || key.includes(values.match))
  .sort((a, b) => b[1] - a[1]);
for (const [key, us] of rows.slice(0, Number(values.top)))
  console.log(
    `${(us / 1000).toFixed(1).padStart(9)} ms ${((us / busy) * 100).toFixed(1).padStart(5)}%  ${key}`,
  );
