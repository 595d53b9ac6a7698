import type { Envelope, LogLinePayload } from '#contracts';
import type { GatewayClient } from '../gateway-client.js';
import type { Output } from '../output.js';
import { type BuildFollower, followOutput, lineText } from './follow-build.js';

export interface LogsOptions {
  follow?: boolean;
  json?: boolean;
}

/**
 * `logs <build> [-f]`: the output lines the gateway keeps for a build, then (with -f) every new line until the
 * build ends and its last lines are in, or Ctrl-C (130). Without -f it stops where what is kept ends.
 */
export function logs(
  gateway: GatewayClient,
  buildId: string,
  options: LogsOptions,
  out: Output,
): Promise<number> {
  const print = (line: LogLinePayload) => out.line(options.json ? JSON.stringify(line) : lineText(line));
  return new Promise<number>((resolve, reject) => {
    let follower: BuildFollower | undefined;
    const finish = (code: number) => {
      process.off('SIGINT', interrupted);
      follower?.close();
      resolve(code);
    };
    const interrupted = () => finish(130);
    process.on('SIGINT', interrupted);
    if (options.follow) {
      follower = followOutput(gateway, buildId, { line: print });
      follower.ended.then(() => finish(0), reject);
      return;
    }
    const kept = gateway.stream(
      `/builds/${encodeURIComponent(buildId)}/logs`,
      (event, data) => {
        if (event === 'caught-up') {
          kept.close();
          finish(0);
        } else print((JSON.parse(data) as Envelope<LogLinePayload>).payload);
      },
      ['log', 'caught-up'],
    );
    kept.onFailed = reject;
  });
}
