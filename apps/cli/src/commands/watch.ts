import cliProgress from 'cli-progress';
import type { BuildStatusPayload, Envelope } from '#contracts';
import type { GatewayClient } from '../gateway-client.js';
import { CliExit, type Output, paint } from '../output.js';
import { describeStatus } from './follow-build.js';

export interface WatchOptions {
  json?: boolean;
}

/** What `watch` ends with: 0 every build completed, 1 one failed, 3 one cancelled (and none failed). */
export function watchExitCode(states: Iterable<string>): number {
  const all = [...states];
  if (all.includes('failed')) return 1;
  if (all.includes('cancelled')) return 3;
  return 0;
}

/** How a watch shows progress: bars on a terminal, a line per change elsewhere, JSON lines with --json. */
interface Display {
  status(s: BuildStatusPayload, eventId: string | undefined): void;
  connection(state: 'live' | 'reconnecting'): void;
  stop(): void;
}

/**
 * `watch <build…>`: one live bar per build (phase, wave and turn) on one stream, until every build has ended;
 * it resumes by event id when the gateway goes away and comes back. Resolves with the exit code; Ctrl-C is 130.
 */
export function watch(
  gateway: GatewayClient,
  buildIds: string[],
  options: WatchOptions,
  out: Output,
  tty = Boolean(process.stdout.isTTY),
): Promise<number> {
  const ids = [...new Set(buildIds)];
  const display: Display = options.json ? jsonDisplay(out) : tty ? barDisplay(ids) : lineDisplay(out);
  const ended = new Map<string, string>();
  return new Promise<number>((resolve, reject) => {
    const finish = (code: number) => {
      process.off('SIGINT', interrupted);
      stream.close();
      display.stop();
      if (options.json)
        out.line(JSON.stringify({ event: 'done', builds: Object.fromEntries(ended), exit: code }));
      else if (code !== 130)
        out.warn(ids.map((id) => `${id}: ${paint(ended.get(id) ?? 'unknown', tty)}`).join('\n'));
      resolve(code);
    };
    const interrupted = () => finish(130);
    process.on('SIGINT', interrupted);
    const stream = gateway.stream(
      `/events?builds=${ids.map(encodeURIComponent).join(',')}`,
      (event, data) => {
        if (event === 'end') {
          const { build_id, status } = JSON.parse(data) as { build_id: string; status: string };
          ended.set(build_id, status);
          if (ended.size === ids.length) finish(watchExitCode(ended.values()));
          return;
        }
        display.status((JSON.parse(data) as Envelope<BuildStatusPayload>).payload, undefined);
      },
      ['status', 'reset', 'end'],
    );
    stream.onState = (state) => display.connection(state);
    // a resume after every build had ended: the gateway answers 204 (their `end` events came before)
    stream.onEnded = () => finish(watchExitCode(ended.values()));
    stream.onFailed = (error) => {
      process.off('SIGINT', interrupted);
      display.stop();
      reject(error instanceof CliExit ? error : new CliExit(1, String(error)));
    };
  });
}

function barDisplay(ids: string[]): Display {
  const multi = new cliProgress.MultiBar(
    {
      format: ' {id} |{bar}| {percentage}% {state} {where}',
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      forceRedraw: true,
      autopadding: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const width = Math.max(...ids.map((id) => id.length));
  let away = false;
  const bars = new Map(
    ids.map((id) => [id, multi.create(100, 0, { id: id.padEnd(width), state: 'waiting', where: '' })]),
  );
  return {
    status(s) {
      bars.get(s.build_id)?.update(s.progress_pct, {
        state: paint(s.status, true),
        where: describeStatus(s).replace(/^\[[^\]]*\]\s*/, ''),
      });
    },
    connection(state) {
      if (state === 'reconnecting' && !away) multi.log('gateway away: reconnecting…\n');
      if (state === 'live' && away) multi.log('reconnected\n');
      away = state === 'reconnecting';
    },
    stop: () => multi.stop(),
  };
}

function lineDisplay(out: Output): Display {
  let away = false;
  return {
    status: (s) => out.line(`${s.build_id} ${describeStatus(s)}`),
    connection: (state) => {
      if (state === 'reconnecting' && !away) out.warn('gateway away: reconnecting…');
      if (state === 'live' && away) out.warn('reconnected');
      away = state === 'reconnecting';
    },
    stop: () => undefined,
  };
}

function jsonDisplay(out: Output): Display {
  return {
    status: (s) =>
      out.line(
        JSON.stringify({
          event: 'status',
          build_id: s.build_id,
          status: s.status,
          progress_pct: s.progress_pct,
          phase: s.phase,
          wave: s.wave,
          wave_total: s.wave_total,
          turn: s.turn,
          turn_max: s.turn_max,
        }),
      ),
    connection: () => undefined,
    stop: () => undefined,
  };
}
