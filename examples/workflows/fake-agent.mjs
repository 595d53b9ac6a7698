#!/usr/bin/env node
// A scripted stand-in for a coding agent (`codex exec --json -`), for trying workflows without one and for the
// tests: it is NOT an agent. It reads the prompt on stdin and answers as the role in GUARDKIT_ROLE would, with
// the answer contract's JSON object on its last line. The implementer writes `workflow-change.txt` (a new
// file) and appends to README.md where there is one, so every round has a diff.
//
// Lines of the task (the workflow's description, which every prompt holds) script it, for the tests:
//   FAKE review-changes N          the reviewer asks for changes in rounds 1..N
//   FAKE fail NODE                 NODE exits 1 on every attempt (NODE: analyst-2, consensus, implementer…)
//   FAKE garbage NODE K            NODE prints no answer on its first K attempts
//   FAKE sleep NODE SECONDS [K]    NODE sleeps first, on its first K attempts (default 1)
//   FAKE blocked NODE              NODE answers BLOCKED
// With FAKE_AGENT_TRACE set (AGENT_ENV_ALLOW=FAKE_AGENT_TRACE), it appends `start`/`end` lines to that file.
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';

const env = process.env;
const node = env.GUARDKIT_NODE ?? env.GUARDKIT_ROLE ?? 'agent';
const role = env.GUARDKIT_ROLE ?? 'agent';
const round = Number(env.GUARDKIT_ROUND ?? '1');
const attempt = Number(env.GUARDKIT_ATTEMPT ?? '1');
const trace = (what) => {
  if (env.FAKE_AGENT_TRACE)
    appendFileSync(
      env.FAKE_AGENT_TRACE,
      `${Date.now()} ${env.GUARDKIT_BUILD_ID} ${node} r${round} a${attempt} pid=${process.pid} ${what}\n`,
    );
};

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const prompt = Buffer.concat(chunks).toString('utf8');
const directives = prompt
  .split('\n')
  .filter((l) => l.startsWith('FAKE '))
  .map((l) => l.trim().split(/\s+/).slice(1));
const directive = (name) =>
  directives.find((d) => d[0] === name && (d[1] === node || name === 'review-changes'));

trace('start');
console.log(JSON.stringify({ type: 'thread.started', thread_id: `fake-${node}-${round}-${attempt}` }));
console.log(
  `AGENT role=${role} node=${node} round=${round} attempt=${attempt} model=${env.AUTOAPPDEV_CODEX_MODEL ?? ''}`,
);
for (const line of prompt.split('\n')) console.log(`PROMPT ${line}`);

const sleep = directive('sleep');
if (sleep && attempt <= Number(sleep[3] ?? '1'))
  await new Promise((r) => setTimeout(r, Number(sleep[2]) * 1000));

const answer = (status, summary, details = '') => {
  trace('end');
  console.log(JSON.stringify({ status, summary, details }));
  process.exit(0);
};
if (directive('fail')) {
  trace('end');
  console.error(`${node}: failing as scripted`);
  process.exit(1);
}
const garbage = directive('garbage');
if (garbage && attempt <= Number(garbage[2])) {
  trace('end');
  console.log('I looked at it and it seems fine, no JSON from me.');
  process.exit(0);
}
if (directive('blocked')) answer('BLOCKED', `${node} cannot go on`, 'scripted block');

switch (role) {
  case 'analyst':
  case 'bug_hunter':
    answer('OK', `draft of ${node}`, `DRAFT-${node}: requirements as ${node} sees them`);
    break;
  case 'consensus':
    answer(
      'OK',
      'merged requirements',
      `CONSENSUS of: ${[...prompt.matchAll(/DRAFT-([\w-]+)/g)].map((m) => m[1]).join(', ')}`,
    );
    break;
  case 'splitter':
    answer('OK', 'plan', 'PLAN: 1. write workflow-change.txt');
    break;
  case 'implementer': {
    const feedback = [...prompt.matchAll(/FEEDBACK-R\d+/g)].map((m) => m[0]);
    writeFileSync(
      'workflow-change.txt',
      `round ${round}\n${feedback.map((f) => `addressed ${f}\n`).join('')}`,
    );
    if (existsSync('README.md')) appendFileSync('README.md', `\nChanged in round ${round}.\n`);
    answer(
      'OK',
      `implemented round ${round}`,
      feedback.length ? `addressed ${feedback.join(', ')}` : 'first version',
    );
    break;
  }
  case 'tester':
    answer('PASS', 'tests pass', 'ran the checks');
    break;
  case 'reviewer': {
    const changes = Number(directive('review-changes')?.[1] ?? '0');
    if (round <= changes)
      answer('CHANGES_REQUESTED', `round ${round} needs work`, `FEEDBACK-R${round}: please improve`);
    answer('APPROVED', 'looks good', 'approved');
    break;
  }
  default:
    answer('OK', `${role} done`);
}
