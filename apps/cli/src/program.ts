import { Command, CommanderError, Option } from 'commander';
import { pipelineParse } from './commands/pipeline-parse.js';
import { pipelineRun, type RunOptions } from './commands/pipeline-run.js';
import { token, type TokenOptions } from './commands/token.js';
import { workflowStart, type WorkflowStartOptions } from './commands/workflow-start.js';
import { CliExit, type Output, processOutput } from './output.js';

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
    .action((description: string, options: WorkflowStartOptions) => workflowStart(description, options, out));
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
