import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * AutoAppDev's own AAPS examples and edge cases, with what its parser returns for each (`libs/aaps/corpus`,
 * copied from the product's shared folder; its README says how to compare). Used by the tests and the CLI's
 * shipped examples.
 */
export const CORPUS_DIR = fileURLToPath(new URL('../../../../libs/aaps/corpus/', import.meta.url));

export interface CorpusCase {
  name: string;
  /** The script, decoded as strict UTF-8 with every byte kept. */
  text: string;
  expected: { ok: true; ir: unknown } | { ok: false; code: string; line: number; message: string };
  tags: string[];
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const read = (path: string): string => decoder.decode(readFileSync(CORPUS_DIR + path));

export function corpusCases(): CorpusCase[] {
  const manifest = JSON.parse(read('cases/manifest.json')) as Array<{
    case: string;
    file: string;
    tags: string[];
  }>;
  const cases = manifest.map((entry) => ({
    name: entry.case,
    text: read(entry.file),
    expected: JSON.parse(read(`expected/${entry.case}.json`)) as CorpusCase['expected'],
    tags: entry.tags,
  }));
  const examples = readdirSync(CORPUS_DIR + 'examples')
    .filter((file) => file.endsWith('.aaps'))
    .map((file) => ({
      name: `examples/${file}`,
      text: read(`examples/${file}`),
      expected: JSON.parse(
        read(`examples/${file.replace(/\.aaps$/, '.expected.json')}`),
      ) as CorpusCase['expected'],
      tags: ['example'],
    }));
  return [...cases, ...examples];
}

/** The IR documents among AutoAppDev's examples (`pipeline_ir_*.json`). */
export function corpusIrExamples(): Array<{ name: string; ir: unknown }> {
  return readdirSync(CORPUS_DIR + 'examples')
    .filter((file) => file.startsWith('pipeline_ir_') && file.endsWith('.json'))
    .map((file) => ({ name: file, ir: JSON.parse(read(`examples/${file}`)) as unknown }));
}
