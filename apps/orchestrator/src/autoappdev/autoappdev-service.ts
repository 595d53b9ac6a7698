import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { isAapsParseError, parseAaps, scriptTooLarge } from '#aaps';
import {
  AutoAppDevError,
  ListLimitQuery,
  NoArguments,
  PostInboxCommand,
  SaveScriptCommand,
  type SavedScript,
  ScriptIdQuery,
  StartDefaultPipelineCommand,
} from '#contracts';
import { RpcServer } from '#bus';
import { CLOCK, type Clock, SETTINGS, type Settings } from '#platform';
import { PipelineRepository } from '../pipelines/pipeline-repository.js';
import { PipelineService } from '../pipelines/pipeline-service.js';
import { AutoAppDevRepository } from './autoappdev-repository.js';

/**
 * What AutoAppDev's PWA keeps in its backend, over `guardkit.rpc.*` for the gateway's AutoAppDev-compatible API:
 * saved scripts (parsed on save), the inbox (also written to `runtime/inbox/`, as AutoAppDev does, for runners
 * that read it), the current pipeline and its start from AUTOAPPDEV_PIPELINE_SCRIPT or the latest saved script.
 */
@Injectable()
export class AutoAppDevService implements OnModuleInit {
  constructor(
    private readonly repo: AutoAppDevRepository,
    private readonly runs: PipelineRepository,
    private readonly pipelines: PipelineService,
    private readonly rpc: RpcServer,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.rpc.serve('scripts.list', ListLimitQuery, async (q) => ({
      scripts: await this.repo.listScripts(q.limit ?? 50),
    }));
    this.rpc.serve('scripts.get', ScriptIdQuery, async (q) => ({ script: await this.script(q.id) }));
    this.rpc.serve('scripts.save', SaveScriptCommand, (c) => this.save(c));
    this.rpc.serve('scripts.delete', ScriptIdQuery, async (q) => {
      if (!(await this.repo.deleteScript(q.id))) throw new AutoAppDevError('not_found', `no script ${q.id}`);
      return { ok: true };
    });
    this.rpc.serve('inbox.list', ListLimitQuery, async (q) => ({
      messages: await this.repo.listInbox(q.limit ?? 50),
    }));
    this.rpc.serve('inbox.post', PostInboxCommand, (c) => this.postInbox(c.content));
    this.rpc.serve('pipelines.current', NoArguments, async () => {
      const [latest] = await this.runs.list(undefined, 1);
      return { run: latest ? await this.pipelines.view(latest) : null };
    });
    this.rpc.serve('pipelines.start_default', StartDefaultPipelineCommand, (c) => this.startDefault(c));
  }

  private async script(id: number): Promise<SavedScript> {
    const script = await this.repo.getScript(id);
    if (!script) throw new AutoAppDevError('not_found', `no script ${id}`);
    return script;
  }

  /** Creates (no id) or updates a script; its text is parsed and, when it parses, its IR is stored with it. */
  private async save(c: SaveScriptCommand): Promise<{ ok: true; script: SavedScript; parse_error?: object }> {
    let parsedIr: unknown;
    let parseError: object | undefined;
    if (c.script_text !== undefined) {
      if (scriptTooLarge(c.script_text))
        throw new AutoAppDevError('script_too_large', 'script_text is longer than 200000 characters');
      try {
        parsedIr = parseAaps(c.script_text).ir;
      } catch (error) {
        if (!isAapsParseError(error)) throw error;
        parseError = error.toBody();
      }
    }
    const now = this.clock.now();
    const ir = c.ir_set ? c.ir : parsedIr;
    const script =
      c.id === undefined
        ? await this.repo.createScript(
            {
              title: c.title ?? '',
              script_text: c.script_text ?? '',
              script_version: c.script_version ?? 1,
              script_format: c.script_format ?? 'aaps',
              ir: ir ?? null,
            },
            now,
          )
        : await this.repo.updateScript(
            c.id,
            {
              title: c.title,
              script_text: c.script_text,
              script_version: c.script_version,
              script_format: c.script_format,
              ...(c.ir_set || parsedIr !== undefined ? { ir } : {}),
            },
            now,
          );
    if (!script) throw new AutoAppDevError('not_found', `no script ${c.id}`);
    return { ok: true, script, ...(parseError ? { parse_error: parseError } : {}) };
  }

  private async postInbox(content: string): Promise<{ ok: true }> {
    const now = this.clock.now();
    await this.repo.addInbox('user', content, now);
    // AutoAppDev's side effect: runners read guidance from runtime/inbox/ (written whole, then renamed)
    const inbox = join(this.settings.ingest.runtimeDir, 'inbox');
    await mkdir(inbox, { recursive: true });
    const name = `${now.getTime()}_user.md`;
    await writeFile(join(inbox, `.${name}.tmp`), content, 'utf8');
    await rename(join(inbox, `.${name}.tmp`), join(inbox, name));
    return { ok: true };
  }

  private async startDefault(
    c: StartDefaultPipelineCommand,
  ): Promise<{ ok: true; pid: null; run_id: string }> {
    const cwd = c.cwd ?? this.settings.pipelines.autoappdevCwd;
    if (!cwd)
      throw new AutoAppDevError('no_cwd', 'give cwd, or set AUTOAPPDEV_PIPELINE_CWD on the orchestrator');
    const named = c.script ?? this.settings.pipelines.autoappdevScript;
    let scriptText: string;
    if (named) {
      const path = isAbsolute(named) ? named : resolve(cwd, named);
      try {
        scriptText = await readFile(path, 'utf8');
      } catch {
        throw new AutoAppDevError('script_not_found', `no AAPS script at ${path}`);
      }
    } else {
      const latest = await this.repo.latestScript();
      if (!latest) {
        throw new AutoAppDevError(
          'no_script',
          'set AUTOAPPDEV_PIPELINE_SCRIPT, give script, or save a script first (POST /api/scripts)',
        );
      }
      scriptText = latest.script_text;
    }
    const created = await this.pipelines.create({ script_text: scriptText, cwd: resolve(cwd), env: c.env });
    return { ok: true, pid: null, run_id: created.run_id };
  }
}
