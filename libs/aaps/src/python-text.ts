/**
 * Python's text rules, which AutoAppDev's parser inherits: `str.splitlines()`, `str.strip()` and
 * `str.split(None, n)`. JavaScript's `\s` and line breaks differ (it counts U+FEFF as a space, Python does
 * not; Python breaks lines at U+001C–U+001E, U+0085, U+2028 and U+2029), so a script would parse
 * differently here than there. Written by hand because no library copies these three functions.
 */

/** Characters `str.isspace()` is true for (the inside of a regular expression's character class). */
export const PY_SPACE =
  '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const LEADING = new RegExp(`^[${PY_SPACE}]+`);
const TRAILING = new RegExp(`[${PY_SPACE}]+$`);
const SPACE_RUN = new RegExp(`[${PY_SPACE}]+`);
/** Line boundaries of `str.splitlines()`; `\r\n` is one. */
// eslint-disable-next-line no-control-regex -- Python breaks lines at these control characters
const LINE_BREAK = new RegExp('\\r\\n|[\\n\\r\\x0b\\x0c\\x1c\\x1d\\x1e\\x85\\u2028\\u2029]');

export function pyStrip(text: string): string {
  return pyLstrip(text).replace(TRAILING, '');
}

export function pyLstrip(text: string): string {
  return text.replace(LEADING, '');
}

/** `text.splitlines()`: no empty last line for a text that ends with a line break. */
export function pySplitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split(new RegExp(LINE_BREAK.source, 'g'));
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** `text.split(None, 1)` on a text with no leading space: the first word and the rest, or fewer. */
export function pySplitFirst(text: string): string[] {
  const match = SPACE_RUN.exec(text);
  if (!match) return text === '' ? [] : [text];
  const rest = text.slice(match.index + match[0].length);
  return rest === '' ? [text.slice(0, match.index)] : [text.slice(0, match.index), rest];
}

/** Whether the text holds a character Python reads as a line break (so the line would split there). */
export function hasPyLineBreak(text: string): boolean {
  return LINE_BREAK.test(text);
}
