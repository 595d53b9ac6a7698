import { readFile } from 'node:fs/promises';
import { isAapsParseError, parseAaps } from '#aaps';
import { CliExit, type Output } from '../output.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Reads a script as AutoAppDev does: strict UTF-8, every byte kept (the parser drops a leading BOM). */
export async function readScript(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new CliExit(2, `${file}: cannot read: ${(error as Error).message}`);
  }
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new CliExit(2, `${file}:1: invalid_encoding: the file is not valid UTF-8`);
  }
}

/** `pipeline parse <file>`: the SPEC 6.1 shapes; exit 0, or 2 with `file:line: code: detail`. */
export async function pipelineParse(file: string, options: { json?: boolean }, out: Output): Promise<void> {
  const text = await readScript(file);
  try {
    const result = parseAaps(text);
    if (options.json) {
      out.json({ ok: true, ir: result.ir, warnings: result.warnings });
    } else {
      const steps = result.ir.tasks.reduce((n, t) => n + t.steps.length, 0);
      const actions = result.ir.tasks.reduce(
        (n, t) => n + t.steps.reduce((m, s) => m + s.actions.length, 0),
        0,
      );
      out.line(`${file}: ok: ${result.ir.tasks.length} tasks, ${steps} steps, ${actions} actions`);
    }
    for (const warning of result.warnings) out.warn(`${file}:${warning.line}: warning: ${warning.detail}`);
  } catch (error) {
    if (!isAapsParseError(error)) throw error;
    if (options.json) out.json(error.toBody());
    throw new CliExit(2, `${file}:${error.line}: ${error.error}: ${error.detail}`);
  }
}
