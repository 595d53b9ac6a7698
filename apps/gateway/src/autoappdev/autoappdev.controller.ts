import { Access } from '#platform';
import {
  All,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Post,
  Put,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { ApiExcludeEndpoint, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { importAnnotatedShell, isAapsParseError, scriptTooLarge } from '#aaps';
import {
  AUTOAPPDEV_STATUS,
  type Envelope,
  type InboxMessageView,
  type LogLinePayload,
  type PipelineView,
  RemoteError,
  type RpcMethod,
  type SavedScript,
} from '#contracts';
import { RpcClient } from '#bus';
import { ApiDoc, UNAVAILABLE } from '../http/api-docs.js';
import { SseHub } from '../sse/sse-hub.js';

type Json = Record<string, unknown>;
/** AutoAppDev's inbox limit (`too_long` past it). */
const INBOX_MAX_CHARS = 10_000;
/** AutoAppDev's pipeline states: ours map onto them. */
type AadState = 'stopped' | 'running' | 'paused';
const TRANSITIONS: Record<'start' | 'stop' | 'pause' | 'resume', AadState[]> = {
  start: ['stopped'],
  stop: ['running', 'paused'],
  pause: ['running'],
  resume: ['paused'],
};

/** An answer in AutoAppDev's shape with its status (`{ok:false, error, …}` and 400, as its backend answers). */
class AadAnswer extends Error {
  constructor(
    readonly status: number,
    readonly body: Json,
  ) {
    super(String(body.error));
  }
}
const refuse = (error: string, extra: Json = {}, status = 400) =>
  new AadAnswer(status, { ok: false, error, ...extra });
/** A scalar as text, as Python's `str()` gives it for AutoAppDev's fields; anything else is empty. */
const text = (v: unknown): string =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function aadState(run: PipelineView | null): AadState {
  if (!run) return 'stopped';
  if (run.state === 'paused') return 'paused';
  return run.state === 'queued' || run.state === 'running' ? 'running' : 'stopped';
}

function limitOf(raw: unknown, fallback: number, max: number, min = 1): number {
  const n = Number(raw ?? fallback);
  return Number.isFinite(n) ? Math.max(min, Math.min(max, Math.trunc(n))) : fallback;
}

/**
 * The rest of AutoAppDev's backend API that its PWA uses to run and watch a pipeline (its `backend/app.py`
 * and `docs/api-contracts.md`), in its shapes and error codes, over guardkit-stream's pipelines: the pipeline is
 * the latest run; `start` runs AUTOAPPDEV_PIPELINE_SCRIPT in AUTOAPPDEV_PIPELINE_CWD, or the latest saved
 * script. What AutoAppDev has beyond running and watching (its LLM chat, autopilot, action library, workspace
 * config) answers `{ok:false, error:"not_supported"}`.
 */
@Access.run()
@Controller('api')
@ApiTags('autoappdev')
export class AutoAppDevController {
  constructor(
    private readonly rpc: RpcClient,
    private readonly sse: SseHub,
  ) {}

  /** Calls the orchestrator; an AutoAppDev error code it answers becomes AutoAppDev's body and status. */
  private async call<T>(method: RpcMethod, body: object): Promise<T> {
    try {
      return await this.rpc.call<T>(method, body);
    } catch (error) {
      if (error instanceof RemoteError && /^[a-z_]+$/.test(error.code)) {
        throw refuse(error.code, { detail: error.message }, AUTOAPPDEV_STATUS[error.code] ?? 400);
      }
      throw error;
    }
  }

  private async answer(res: Response, work: () => Promise<Json>): Promise<Json> {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof AadAnswer)) throw error;
      res.status(error.status);
      return error.body;
    }
  }

  private async current(): Promise<PipelineView | null> {
    return (await this.call<{ run: PipelineView | null }>('pipelines.current', {})).run;
  }

  @Access.token()
  @Get('health')
  @ApiDoc('AutoAppDev-compatible: health, with the database (through the orchestrator)', {})
  async health(): Promise<Json> {
    try {
      await this.rpc.call('pipelines.current', {});
      return { ok: true, service: 'guardkit-stream', db: { ok: true, time: new Date().toISOString() } };
    } catch (error) {
      return { ok: true, service: 'guardkit-stream', db: { ok: false, error: (error as Error).message } };
    }
  }

  @Get('pipeline')
  @ApiDoc('AutoAppDev-compatible: the pipeline (the latest run): state and timestamps', { 503: UNAVAILABLE })
  async pipeline(): Promise<Json> {
    const run = await this.current();
    return {
      pipeline: {
        state: aadState(run),
        pid: null,
        run_id: run?.run_id ?? null,
        started_at: run?.started_at ?? null,
        paused_at: null,
        resumed_at: null,
        stopped_at: run?.finished_at ?? null,
        updated_at: run?.updated_at ?? null,
      },
    };
  }

  @Get('pipeline/status')
  @ApiDoc('AutoAppDev-compatible: the latest run`s state', { 503: UNAVAILABLE })
  async status(): Promise<Json> {
    const run = await this.current();
    return {
      status: {
        running: aadState(run) !== 'stopped',
        pid: null,
        run_id: run?.run_id ?? null,
        state: run?.state ?? 'idle',
      },
    };
  }

  @Post('pipeline/:action')
  @ApiDoc('AutoAppDev-compatible: start, stop, pause or resume the pipeline (its state machine)', {
    400: '`invalid_transition` (with from, action, detail), `args_must_be_list`, `no_script`, `no_cwd`, a script that cannot run',
    404: '`script_not_found`',
    503: UNAVAILABLE,
  })
  @HttpCode(200)
  control(
    @Param('action') action: string,
    @Body() body: unknown,
    @Res({ passthrough: true }) res: Response,
  ): Promise<Json> {
    return this.answer(res, async () => {
      if (!Object.hasOwn(TRANSITIONS, action))
        throw refuse('not_supported', { detail: `no pipeline action ${action}` }, 404);
      const verb = action as keyof typeof TRANSITIONS;
      const run = await this.current();
      const from = aadState(run);
      if (!TRANSITIONS[verb].includes(from)) {
        throw refuse('invalid_transition', { from, action: verb, detail: `cannot ${verb} when ${from}` });
      }
      if (verb === 'start') {
        const fields = isObject(body) ? body : {};
        if (fields.args !== undefined && !Array.isArray(fields.args)) throw refuse('args_must_be_list');
        return this.call<Json>('pipelines.start_default', {
          ...(typeof fields.script === 'string' && fields.script ? { script: fields.script } : {}),
          ...(typeof fields.cwd === 'string' && fields.cwd ? { cwd: fields.cwd } : {}),
        });
      }
      const command = verb === 'stop' ? 'cancel' : verb;
      await this.call('pipelines.command', { run_id: run!.run_id, command });
      return { ok: true };
    });
  }

  @Get('scripts')
  @ApiDoc('AutoAppDev-compatible: saved scripts, newest first', { 503: UNAVAILABLE })
  scripts(@Query('limit') limit: unknown): Promise<{ scripts: SavedScript[] }> {
    return this.call('scripts.list', { limit: limitOf(limit, 50, 500) });
  }

  @Post('scripts')
  @ApiDoc('AutoAppDev-compatible: save a script (parsed on save: its IR stored when it parses)', {
    400: "AutoAppDev's codes: `invalid_body`, `empty_script`, `script_too_large`, `invalid_script_version`, `invalid_ir`",
    503: UNAVAILABLE,
  })
  @HttpCode(200)
  create(@Body() body: unknown, @Res({ passthrough: true }) res: Response): Promise<Json> {
    return this.answer(res, async () => {
      if (!isObject(body)) throw refuse('invalid_body');
      const script = text(body.script_text);
      if (script.trim() === '') throw refuse('empty_script');
      if (scriptTooLarge(script)) throw refuse('script_too_large');
      const version = body.script_version ?? 1;
      if (!Number.isInteger(version)) throw refuse('invalid_script_version');
      if (body.ir !== undefined && body.ir !== null && typeof body.ir !== 'object')
        throw refuse('invalid_ir');
      return this.call<Json>('scripts.save', {
        title: text(body.title).trim(),
        script_text: script,
        script_version: version,
        script_format: text(body.script_format) || 'aaps',
        ...(body.ir !== undefined && body.ir !== null ? { ir_set: true, ir: body.ir } : {}),
      });
    });
  }

  @Post('scripts/import-shell')
  @ApiDoc('AutoAppDev-compatible: an AAPS script from the `# AAPS:` lines of a shell script', {
    400: "AutoAppDev's codes: `invalid_body`, `invalid_shell_text`, `shell_too_large`, `missing_annotations`, a parse error on its shell line",
  })
  @HttpCode(200)
  importShell(@Body() body: unknown, @Res({ passthrough: true }) res: Response): Promise<Json> {
    return this.answer(res, () => {
      if (!isObject(body)) throw refuse('invalid_body');
      if (typeof body.shell_text !== 'string') throw refuse('invalid_shell_text');
      if (scriptTooLarge(body.shell_text)) throw refuse('shell_too_large');
      try {
        const { aapsText, ir, warnings } = importAnnotatedShell(body.shell_text);
        return Promise.resolve({ ok: true, script_format: 'aaps', script_text: aapsText, ir, warnings });
      } catch (error) {
        if (!isAapsParseError(error)) throw error;
        throw new AadAnswer(400, { ...error.toBody() });
      }
    });
  }

  @Get('scripts/:id')
  @ApiDoc('AutoAppDev-compatible: one saved script', {
    400: '`invalid_id`',
    404: '`not_found`',
    503: UNAVAILABLE,
  })
  script(@Param('id') id: string, @Res({ passthrough: true }) res: Response): Promise<Json> {
    return this.answer(res, () => this.call<Json>('scripts.get', { id: this.scriptId(id) }));
  }

  @Put('scripts/:id')
  @ApiDoc('AutoAppDev-compatible: change a saved script (parsed again when its text changes)', {
    400: "AutoAppDev's codes: `invalid_id`, `invalid_body`, `no_fields`, `invalid_title`, `invalid_script_text`, `script_too_large`, `invalid_script_version`, `invalid_script_format`, `invalid_ir`",
    404: '`not_found`',
    503: UNAVAILABLE,
  })
  update(
    @Param('id') id: string,
    @Body() body: unknown,
    @Res({ passthrough: true }) res: Response,
  ): Promise<Json> {
    return this.answer(res, async () => {
      const scriptId = this.scriptId(id);
      if (!isObject(body)) throw refuse('invalid_body');
      const fields = ['title', 'script_text', 'script_version', 'script_format', 'ir'];
      if (!fields.some((f) => f in body)) throw refuse('no_fields');
      const change: Json = { id: scriptId };
      if ('title' in body && body.title !== null) {
        if (typeof body.title !== 'string') throw refuse('invalid_title');
        change.title = body.title.trim();
      }
      if ('script_text' in body && body.script_text !== null) {
        if (typeof body.script_text !== 'string') throw refuse('invalid_script_text');
        if (scriptTooLarge(body.script_text)) throw refuse('script_too_large');
        change.script_text = body.script_text;
      }
      if ('script_version' in body && body.script_version !== null) {
        if (!Number.isInteger(body.script_version)) throw refuse('invalid_script_version');
        change.script_version = body.script_version;
      }
      if ('script_format' in body && body.script_format !== null) {
        if (typeof body.script_format !== 'string') throw refuse('invalid_script_format');
        change.script_format = body.script_format;
      }
      if ('ir' in body) {
        if (body.ir !== null && typeof body.ir !== 'object') throw refuse('invalid_ir');
        Object.assign(change, { ir_set: true, ir: body.ir });
      }
      return this.call<Json>('scripts.save', change);
    });
  }

  @Delete('scripts/:id')
  @ApiDoc('AutoAppDev-compatible: delete a saved script', {
    400: '`invalid_id`',
    404: '`not_found`',
    503: UNAVAILABLE,
  })
  remove(@Param('id') id: string, @Res({ passthrough: true }) res: Response): Promise<Json> {
    return this.answer(res, () => this.call<Json>('scripts.delete', { id: this.scriptId(id) }));
  }

  private scriptId(id: string): number {
    if (!/^\d{1,9}$/.test(id) || Number(id) < 1) throw refuse('invalid_id');
    return Number(id);
  }

  @Get('inbox')
  @ApiDoc('AutoAppDev-compatible: inbox messages, the newest N oldest first', { 503: UNAVAILABLE })
  inbox(@Query('limit') limit: unknown): Promise<{ messages: InboxMessageView[] }> {
    return this.call('inbox.list', { limit: limitOf(limit, 50, 500) });
  }

  @Post('inbox')
  @ApiDoc('AutoAppDev-compatible: post guidance to the inbox (also written to runtime/inbox/ for runners)', {
    400: "AutoAppDev's codes: `invalid_body`, `empty`, `too_long`",
    503: UNAVAILABLE,
  })
  @HttpCode(200)
  postInbox(@Body() body: unknown, @Res({ passthrough: true }) res: Response): Promise<Json> {
    return this.answer(res, async () => {
      if (!isObject(body)) throw refuse('invalid_body');
      const content = text(body.content).trim();
      if (content === '') throw refuse('empty');
      if ([...content].length > INBOX_MAX_CHARS) throw refuse('too_long');
      return this.call<Json>('inbox.post', { content });
    });
  }

  @Get('logs')
  @ApiDoc('AutoAppDev-compatible: the pipeline`s output lines after `since` (ids are stream sequences)', {
    503: UNAVAILABLE,
  })
  async logs(
    @Query('source') source: unknown,
    @Query('since') since: unknown,
    @Query('limit') limit: unknown,
  ): Promise<Json> {
    const name = typeof source === 'string' && source !== '' ? source : 'pipeline';
    const after = limitOf(since, 0, Number.MAX_SAFE_INTEGER, 0);
    const lines = name === 'pipeline' ? await this.pipelineLines(after, limitOf(limit, 200, 2000)) : [];
    return { source: name, since: after, next: lines.at(-1)?.id ?? after, lines };
  }

  @Get('logs/tail')
  @ApiDoc('AutoAppDev-compatible: the last N lines of the pipeline`s output (`name=pipeline`)', {
    400: '`unknown_log`',
    503: UNAVAILABLE,
  })
  async tail(
    @Query('name') name: unknown,
    @Query('lines') count: unknown,
    @Res({ passthrough: true }) res: Response,
  ): Promise<Json> {
    const log = typeof name === 'string' && name !== '' ? name : 'pipeline';
    if (log !== 'pipeline' && log !== 'backend') {
      res.status(400);
      return { error: 'unknown_log' };
    }
    const n = limitOf(count, 200, 2000, 10);
    // the service's own log is not kept in a file here: its lines go to its output (docs/operations.md)
    if (log === 'backend') return { name: log, lines: [] };
    const lines = await this.pipelineLines(0, Number.MAX_SAFE_INTEGER);
    return { name: log, lines: lines.slice(-n).map((l) => l.line) };
  }

  /** The latest run's output lines after stream sequence `after`, at most `limit`. */
  private async pipelineLines(
    after: number,
    limit: number,
  ): Promise<{ id: number; ts: string; source: string; line: string }[]> {
    const run = await this.current();
    if (!run) return [];
    const history = this.sse.logs.history;
    const { lastSeq } = await history.bounds();
    const out: { id: number; ts: string; source: string; line: string }[] = [];
    for await (const event of history.between(this.sse.logs.kind.subjectFor(run.run_id), after, lastSeq)) {
      const envelope = JSON.parse(event.data) as Envelope<LogLinePayload>;
      out.push({ id: event.seq, ts: envelope.timestamp, source: 'pipeline', line: envelope.payload.line });
      if (out.length >= limit && limit !== Number.MAX_SAFE_INTEGER) break;
    }
    return out;
  }

  /** The rest of AutoAppDev's API is out of scope here: said plainly, in its shape. */
  @Access.token()
  @All('*path')
  @ApiExcludeEndpoint()
  notSupported(@Req() req: Request, @Res({ passthrough: true }) res: Response): Json {
    res.status(404);
    return {
      ok: false,
      error: 'not_supported',
      detail:
        `guardkit-stream does not provide ${req.method} ${req.path}: it runs and watches pipelines; ` +
        "AutoAppDev's LLM chat, autopilot, action library and workspace settings are not part of it",
    };
  }
}
