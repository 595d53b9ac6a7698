import { GuardkitError } from '#contracts';

/**
 * How a delivery step can fail (SPEC 5, seed 002 "failure classifications"). `retryable` decides what
 * happens next: a retryable failure is tried again later with backoff; any other moves down the fallback
 * chain (live → resume → spawn) or, at the end of it, fails the trigger at once.
 */
export const DELIVERY_ERROR_CODES = {
  /** The tmux session, window or pane does not exist (or no tmux server runs). */
  TARGET_MISSING: false,
  /** The pane exists but its program has exited. */
  PANE_DEAD: false,
  /** The runtime itself cannot be used here (tmux is not installed). */
  RUNTIME_UNAVAILABLE: false,
  /** A resume or spawn command is not configured. */
  NOT_CONFIGURED: false,
  /** The runtime or a command did not answer in time. */
  TIMEOUT: true,
  /** A command ran and failed (non-zero exit, unexpected tmux error). */
  COMMAND_FAILED: true,
} as const;
export type DeliveryErrorCode = keyof typeof DELIVERY_ERROR_CODES;

export class DeliveryError extends GuardkitError {
  override readonly retryable: boolean;

  constructor(
    readonly code: DeliveryErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.retryable = DELIVERY_ERROR_CODES[code];
  }
}

/** Where a trigger goes: a registered session's terminal. */
export interface DeliveryTarget {
  sessionId: string;
  runtime: string;
  tmuxTarget: string;
}

/**
 * One runtime's way into a live terminal (tmux first). Implementations throw DeliveryError, classified;
 * text arrives already bounded and stripped of control characters.
 */
export interface DeliveryAdapter {
  /** When a person last typed into the target's terminal, if anyone is attached. */
  lastHumanInput(target: DeliveryTarget): Promise<Date | undefined>;
  /**
   * Text waiting unsent on the terminal's input line (a person typed and has not pressed Enter), or
   * undefined: a prompt typed now would be merged into it and submitted with it.
   */
  unsentInput(target: DeliveryTarget): Promise<string | undefined>;
  /** Types the text into the live pane, then Enter. */
  deliver(target: DeliveryTarget, text: string): Promise<Record<string, unknown>>;
}

export const DELIVERY_ADAPTER = Symbol('DELIVERY_ADAPTER');

/**
 * Makes a prompt safe to type into a terminal (SPEC 5): escape sequences and control characters are removed,
 * line breaks and tabs become spaces (a newline would submit early in most agent TUIs), and the text is
 * cut to `maxBytes` of UTF-8 without splitting a character.
 */
export function sanitizeForTerminal(text: string, maxBytes: number): { text: string; truncated: boolean } {
  const cleaned = cleanForTerminal(text);
  const buffer = new Uint8Array(maxBytes);
  const { read } = new TextEncoder().encodeInto(cleaned, buffer);
  return { text: cleaned.slice(0, read), truncated: read < cleaned.length };
}

/** The text without escape sequences and control characters, line breaks as spaces, trimmed. */
export function cleanForTerminal(text: string): string {
  /* eslint-disable no-control-regex -- matching control characters is the point */
  return text
    .replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, '') // CSI sequences (colours, cursor moves)
    .replace(/\u001b\][^\u0007\u001b]*(\u0007|\u001b\\)?/g, '') // OSC sequences (titles, hyperlinks)
    .replace(/\r\n|[\r\n\t\v\f]/g, ' ')
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '')
    .trim();
  /* eslint-enable no-control-regex */
}
