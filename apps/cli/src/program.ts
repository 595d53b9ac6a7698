import { Command, CommanderError, Option } from 'commander';
import { pipelineParse } from './commands/pipeline-parse.js';
import { pipelineRun, type RunOptions } from './commands/pipeline-run.js';
import { listBuilds, type BuildsOptions } from './commands/builds.js';
import { logs, type LogsOptions } from './commands/logs.js';
import { outboxWrite } from './commands/outbox-write.js';
import { token, type TokenOptions } from './commands/token.js';
import { trigger, type TriggerOptions } from './commands/trigger.js';
import { watch, type WatchOptions } from './commands/watch.js';
import { workflowStart, type WorkflowStartOptions } from './commands/workflow-start.js';
import { GatewayClient } from './gateway-client.js';
import { CliExit, type Output, processOutput } from './output.js';

/** The options every command that talks to the gateway takes. */
export interface GatewayOptions {
  url: string;
  token?: string;
}

/** The `guardkit-stream` command line (SPEC 9). */
export function buildProgram(out: Output = processOutput): Command {
  const program = new Command('guardkit-stream')
    .description('Run, watch and wake autonomous coding agents (guardkit-stream)')
    .exitOverride()
    .showHelpAfterError();
  const pipeline = program.command('pipeline').description('AAPS v1 pipelines (AutoAppDev scripts)');
  pipeline
    .command('parse')
    .description('parse an AAPS v1 script; exit 0, or 2 with file:line: code: detail')
    .argument('<file>', 'the script')
    .option('--json', 'print the result as JSON ({ok, ir, warnings} or {ok:false, error, line, detail})')
    .action((file: string, options: { json?: boolean }) => pipelineParse(file, options, out));
  pipeline
    .command('run')
    .description(
      'run an AAPS v1 script on the gateway; with --follow, exit 0 completed, 1 failed, 3 cancelled',
    )
    .argument('<file>', 'the script')
    .requiredOption('--cwd <dir>', 'the working folder (under the orchestrator`s PIPELINE_WORKSPACE_ROOTS)')
    .option('-f, --follow', 'print progress and output until the run ends')
    .option('--json', 'print the run as JSON')
    .addOption(urlOption())
    .addOption(tokenOption())
    .action((file: string, options: RunOptions) => pipelineRun(file, options, out));
  const workflow = program.command('workflow').description('role workflows (analysts → … → reviewer)');
  workflow
    .command('start')
    .description(
      'start a role workflow in a git repository; with --follow, exit 0 completed, 1 failed, 3 cancelled',
    )
    .argument('<description>', 'what to build (or which bugs to hunt)')
    .requiredOption(
      '--cwd <dir>',
      'a git repository with a commit (under the orchestrator`s PIPELINE_WORKSPACE_ROOTS)',
    )
    .option('--guidance <text>', 'constraints and hints for every role')
    .addOption(new Option('--mode <mode>', 'feature or bug_hunt').choices(['feature', 'bug_hunt']))
    .option('--hunters <n>', 'bug hunters in bug_hunt mode (default 2)')
    .option('-f, --follow', 'print progress and output until the workflow ends')
    .option('--json', 'print the workflow as JSON')
    .addOption(urlOption())
    .addOption(tokenOption())
    .action((description: string, options: WorkflowStartOptions) => workflowStart(description, options, out));
  program
    .command('watch')
    .description(
      'live progress bars for builds until they end; exit 0 all completed, 1 one failed, 3 one cancelled, 130 Ctrl-C',
    )
    .argument('<build...>', 'build ids (a GuardKit task id, a pipeline run id, a workflow id)')
    .option('--json', 'print each status change as a JSON line, and a last {event:"done"} line')
    .addOption(urlOption())
    .addOption(tokenOption())
    .action(async (ids: string[], options: WatchOptions & GatewayOptions) => {
      const code = await watch(gatewayOf(options), ids, options, out);
      if (code !== 0) throw new CliExit(code);
    });
  program
    .command('builds')
    .description('the newest builds, most recently active first')
    .addOption(
      new Option('--status <status>', 'only builds in this state').choices([
        'queued',
        'running',
        'completed',
        'failed',
        'cancelled',
      ]),
    )
    .option('--limit <n>', 'how many (1 to 200)', '20')
    .option('--json', 'print the page as JSON ({items, next_cursor})')
    .addOption(urlOption())
    .addOption(tokenOption())
    .action((options: BuildsOptions & GatewayOptions) => listBuilds(gatewayOf(options), options, out));
  program
    .command('logs')
    .description('a build`s output lines; with -f, follow them until the build ends (or Ctrl-C)')
    .argument('<build>', 'the build id')
    .option('-f, --follow', 'keep printing new lines')
    .option('--json', 'print each line as JSON')
    .addOption(urlOption())
    .addOption(tokenOption())
    .action(async (build: string, options: LogsOptions & GatewayOptions) => {
      const code = await logs(gatewayOf(options), build, options, out);
      if (code !== 0) throw new CliExit(code);
    });
  program
    .command('trigger')
    .description('wake an agent (SPEC 5): the prompt is typed into its session, or a session is started')
    .argument('<agent>', 'the agent to wake')
    .argument('<prompt>', 'what to type into its session')
    .requiredOption('--thread <id>', 'the thread (conversation) it is about')
    .requiredOption('--workspace <id>', 'the workspace')
    .option('--reason <text>', 'why (kept with the trigger)')
    .option('--key <key>', 'an idempotency key: the same key in a workspace gives the same trigger')
    .option('--json', 'print the answer as JSON')
    .addOption(urlOption())
    .addOption(tokenOption())
    .action((agent: string, prompt: string, options: TriggerOptions & GatewayOptions) =>
      trigger(gatewayOf(options), agent, prompt, options, out),
    );
  const outbox = program.command('outbox').description('the AutoAppDev outbox');
  outbox
    .command('write')
    .description('post a message to the outbox (source api)')
    .argument('<text>', 'the message')
    .argument('[role]', 'pipeline (default) or system')
    .option('--json', 'print the answer as JSON')
    .addOption(urlOption())
    .addOption(tokenOption())
    .action((text: string, role: string | undefined, options: { json?: boolean } & GatewayOptions) =>
      outboxWrite(gatewayOf(options), text, role, options, out),
    );
  program
    .command('token')
    .description('mint an HS256 token for the gateway with GATEWAY_JWT_SECRET (SPEC 4.3); printed on stdout')
    .requiredOption('--sub <name>', 'who it is for (kept in the audit log)')
    .option(
      '--read <pattern>',
      'builds it may read: an id, or a prefix ending in * (repeatable)',
      collect,
      [],
    )
    .option(
      '--outbox <source>',
      'outbox sources it may read and post to (repeatable; * for all)',
      collect,
      [],
    )
    .option('--trigger <pattern>', 'agents it may wake (repeatable; * for all)', collect, [])
    .option('--run', 'start and control pipelines and workflows')
    .option('--admin', 'the board, dead letters, sessions, agents` concurrency, metrics')
    .option('--ttl <duration>', 'how long it is valid: 30m, 1h, 7d', '1h')
    .option('--iss <issuer>', 'the iss claim (when the gateway sets GATEWAY_JWT_ISSUER)')
    .option('--aud <audience>', 'the aud claim (when the gateway sets GATEWAY_JWT_AUDIENCE)')
    .action((options: TokenOptions) => token(options, out));
  return program;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The gateway to talk to. */
function urlOption(): Option {
  return new Option('--url <url>', 'the gateway').env('GUARDKIT_URL').default('http://127.0.0.1:3000');
}

/** A bearer token, for a gateway with access on (SPEC 4.3; `guardkit-stream token` makes one). */
function tokenOption(): Option {
  return new Option('--token <jwt>', 'an access token').env('GUARDKIT_TOKEN');
}

function gatewayOf(options: GatewayOptions): GatewayClient {
  return new GatewayClient(options.url, options.token);
}

/** Runs the program and returns the exit code (never exits itself, so tests can call it). */
export async function runCli(argv: string[], out: Output = processOutput): Promise<number> {
  try {
    await buildProgram(out).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CliExit) {
      if (error.message) out.warn(error.message);
      return error.code;
    }
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    out.warn(`guardkit-stream: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
