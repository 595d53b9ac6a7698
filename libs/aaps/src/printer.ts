import { AAPS_HEADER, type AapsIr } from './ir.js';

/**
 * Characters JSON.stringify leaves raw that Python's `splitlines()` (and so AutoAppDev's parser) would break
 * a line at; escaped so a printed statement stays on its line.
 */
const PY_BREAKS_IN_JSON = /[\x85\u2028\u2029]/g;

function statement(keyword: string, value: object): string {
  const json = JSON.stringify(value).replace(
    PY_BREAKS_IN_JSON,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return `${keyword} ${json}`;
}

/** Writes an IR as an AAPS v1 script (indented, one statement a line) that parses back to the same IR. */
export function printAaps(ir: AapsIr): string {
  const lines = [AAPS_HEADER];
  for (const task of ir.tasks) {
    lines.push(
      '',
      statement('TASK', { id: task.id, title: task.title, ...(task.meta ? { meta: task.meta } : {}) }),
    );
    for (const step of task.steps) {
      const { actions, ...fields } = step;
      lines.push(`  ${statement('STEP', fields)}`);
      for (const action of actions) lines.push(`    ${statement('ACTION', action)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
