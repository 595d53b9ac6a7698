import type { Envelope, LogLinePayload } from '#contracts';
import type { GatewayClient } from '../gateway-client.js';
import type { Output } from '../output.js';

export interface LogsOptions {
  follow?: boolean;
  json?: boolean;
}

/**
 * `logs <build> [-f]`: the output lines the gateway keeps for a build; with -f, then every new line until
 * Ctrl-C (or the build ends and its last lines are in). Without -f it stops where what is kept ends.
 */
export function logs(
  gateway: GatewayClient,
  buildId: string,
  options: LogsOptions,
  out: Output,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let quiet: NodeJS.Timeout | undefined;
    let buildEnded = false;
    const finish = (code: number) => {
      process.off('SIGINT', interrupted);
      clearTimeout(quiet);
      stream.close();
      statuses?.close();
      resolve(code);
    };
    const interrupted = () => finish(130);
    process.on('SIGINT', interrupted);
    const stream = gateway.stream(
      `/builds/${encodeURIComponent(buildId)}/logs`,
      (event, data) => {
        if (event === 'caught-up') {
          if (!options.follow) finish(0);
          return;
        }
        const line = (JSON.parse(data) as Envelope<LogLinePayload>).payload;
        if (options.json) out.line(JSON.stringify(line));
        else out.line(line.stream === 'runner' ? `[runner] ${line.line}` : line.line);
        if (buildEnded) settleSoon();
      },
      ['log', 'caught-up'],
    );
    stream.onFailed = reject;
    // with -f: once the build has ended and its last lines have come, stop
    const statuses = options.follow
      ? gateway.stream(
          `/builds/${encodeURIComponent(buildId)}/events`,
          (event) => {
            if (event !== 'end') return;
            buildEnded = true;
            settleSoon();
          },
          ['end'],
        )
      : undefined;
    const settleSoon = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => finish(0), 500);
    };
  });
}
