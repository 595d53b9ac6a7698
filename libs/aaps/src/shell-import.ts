import { AapsParseError } from './errors.js';
import type { AapsIr, AapsWarning } from './ir.js';
import { parseAaps } from './parser.js';
import { PY_SPACE, pySplitLines } from './python-text.js';

const SPACE = `[${PY_SPACE}]`;
/** `^\s*#\s*AAPS:\s*(.*)$`, with Python's `\s`. */
const ANNOTATION = new RegExp(`^${SPACE}*#${SPACE}*AAPS:${SPACE}*(.*)$`);

/**
 * AutoAppDev's import of an annotated shell script (`backend/pipeline_shell_import.py`): the `# AAPS: …` comment
 * lines are an AAPS v1 script; everything else is ignored (nothing is run). A parse error names the shell
 * line it came from.
 */
export function importAnnotatedShell(shellText: string): {
  aapsText: string;
  ir: AapsIr;
  warnings: AapsWarning[];
} {
  const lines: string[] = [];
  const shellLines: number[] = [];
  pySplitLines(shellText.replace(/^\ufeff+/, '')).forEach((raw, index) => {
    const match = ANNOTATION.exec(raw);
    if (!match) return;
    lines.push(match[1]);
    shellLines.push(index + 1);
  });
  if (shellLines.length === 0) {
    throw new AapsParseError('missing_annotations', 1, 'expected at least one "# AAPS:" annotation line');
  }
  const aapsText = lines.join('\n');
  try {
    const { ir, warnings } = parseAaps(aapsText);
    return {
      aapsText,
      ir,
      warnings: warnings.map((w) => ({ ...w, line: shellLines[w.line - 1] ?? w.line })),
    };
  } catch (error) {
    if (!(error instanceof AapsParseError)) throw error;
    const line =
      error.line >= 1 && error.line <= shellLines.length ? shellLines[error.line - 1] : shellLines[0];
    throw new AapsParseError(error.error, line, error.detail, undefined, { cause: error });
  }
}
