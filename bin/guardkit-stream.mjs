#!/usr/bin/env node
// The CLI is compiled with the services: `npm run build` (or `npm start`) first.
import { existsSync } from 'node:fs';

const main = new URL('../dist/apps/cli/src/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('guardkit-stream: not built yet; run `npm run build` in the guardkit-stream folder first');
  process.exit(1);
}
await import(main.href);
