import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RoleAnswer } from '#contracts';

/** The role instructions shipped with guardkit-stream (WORKFLOW_TEMPLATES_DIR overrides them, file by file). */
export const SHIPPED_TEMPLATES_DIR = fileURLToPath(
  new URL('../../../../../apps/orchestrator/templates/workflows/', import.meta.url),
);

/** A role's instructions: `<role>.md` of WORKFLOW_TEMPLATES_DIR where it exists, else the shipped one. */
export async function roleInstructions(role: string, overrides: string | undefined): Promise<string> {
  if (overrides) {
    try {
      return (await readFile(join(overrides, `${role}.md`), 'utf8')).trim();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return (await readFile(join(SHIPPED_TEMPLATES_DIR, `${role}.md`), 'utf8')).trim();
}

/** What a role before this one produced: its answer, or a text (a diff, a test log). Oldest first. */
export interface PromptInput {
  title: string;
  answer?: RoleAnswer;
  text?: string;
}

export interface PromptParts {
  instructions: string;
  description: string;
  guidance: string | null;
  round: number;
  inputs: PromptInput[];
  /** Said as they are: a drafter that failed, a round's reason. */
  notes: string[];
  maxChars: number;
}

export const ANSWER_CONTRACT = [
  '## Your answer',
  'End with one JSON object on a line of its own, and nothing after it:',
  '{"status": "OK" | "CHANGES_REQUESTED" | "BLOCKED", "summary": "one line", "details": "what the next role needs"}',
  'BLOCKED stops the workflow: use it only when the task cannot be done.',
].join('\n');

const trimmedMark = (chars: number) => `[${chars} characters of detail trimmed to fit the prompt]`;

function render(parts: PromptParts, inputs: PromptInput[], trimmed: boolean): string {
  const sections = [parts.instructions, `## Task\n${parts.description}`];
  if (parts.guidance) sections.push(`## Guidance\n${parts.guidance}`);
  if (parts.round > 1) sections.push(`## Round\nThis is review round ${parts.round}.`);
  for (const note of parts.notes) sections.push(`Note: ${note}`);
  if (trimmed) {
    sections.push(
      `Note: this prompt is kept under ${parts.maxChars} characters; the oldest detail below was trimmed first.`,
    );
  }
  for (const input of inputs) {
    const body = input.answer
      ? `status: ${input.answer.status}\nsummary: ${input.answer.summary}\n${input.answer.details}`
      : (input.text ?? '');
    sections.push(`## ${input.title}\n${body.trimEnd()}`);
  }
  sections.push(ANSWER_CONTRACT);
  return `${sections.join('\n\n')}\n`;
}

/**
 * A role's prompt: its instructions, the task, the guidance, and what the roles before it produced, under
 * `maxChars`. Past the bound the oldest input's detail goes first, then the next one's, then the summaries;
 * the prompt says it was trimmed. Only when that is not enough are the newest inputs and the task cut.
 */
export function buildPrompt(parts: PromptParts): string {
  let inputs: PromptInput[] = parts.inputs.map((i) => ({ ...i, answer: i.answer && { ...i.answer } }));
  let prompt = render(parts, inputs, false);
  if (prompt.length <= parts.maxChars) return prompt;
  const fits = () => (prompt = render(parts, inputs, true)).length <= parts.maxChars;
  for (const input of inputs) {
    if (input.answer && input.answer.details.length > 0) {
      input.answer.details = trimmedMark(input.answer.details.length);
    } else if (input.text !== undefined && input.text.length > 80) {
      input.text = trimmedMark(input.text.length);
    }
    if (fits()) return prompt;
  }
  for (const input of inputs) {
    if (input.answer && input.answer.summary.length > 80) {
      input.answer.summary = `${input.answer.summary.slice(0, 80)}…`;
      if (fits()) return prompt;
    }
  }
  inputs = inputs.map((i) => ({ title: i.title, text: trimmedMark(0) }));
  fits();
  // the task and guidance themselves are too long for the bound: cut at their ends, keeping the contract
  const guidance =
    parts.guidance && parts.guidance.length > 1000 ? `${parts.guidance.slice(0, 1000)}…` : parts.guidance;
  const cut = render({ ...parts, guidance }, inputs, true).length - parts.maxChars + 40;
  const description = parts.description.slice(0, Math.max(0, parts.description.length - Math.max(cut, 0)));
  return render(
    { ...parts, guidance, description: `${description}\n[task cut to fit the prompt]` },
    inputs,
    true,
  );
}
