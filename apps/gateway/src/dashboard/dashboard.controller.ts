import { readdirSync, readFileSync } from 'node:fs';
import { Controller, Get, Header, Inject, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { NotFoundError, PIPELINE_COMMANDS, TERMINAL_BUILD_STATUSES, WORKFLOW_COMMANDS } from '#contracts';
import { Access, SETTINGS, type Settings } from '#platform';

/** The dashboard's files: plain HTML, CSS and ES modules, with no build step (`apps/gateway/dashboard/`). */
export const DASHBOARD_DIR = new URL('../../../../../apps/gateway/dashboard/', import.meta.url);
const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};
/** The page's scripts and styles come from here only: no inline script, nothing from elsewhere. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/**
 * Serves the dashboard (SPEC 9). The files are read once at start, so a request never touches the disk and a
 * name can only be one of them (a handful of files; a static-file middleware would add a path to guard).
 */
@Controller()
@ApiExcludeController()
export class DashboardController {
  private readonly page: string;
  private readonly assets = new Map<string, { type: string; body: string }>();

  constructor(@Inject(SETTINGS) settings: Settings) {
    const config = {
      staleMinutes: settings.buildStaleMinutes,
      terminalStatuses: [...TERMINAL_BUILD_STATUSES],
      commands: { pipeline: PIPELINE_COMMANDS, workflow: WORKFLOW_COMMANDS },
    };
    // `<` escaped: the JSON cannot end its script element
    this.page = readFileSync(new URL('index.html', DASHBOARD_DIR), 'utf8').replace(
      '{{CONFIG}}',
      JSON.stringify(config).replace(/</g, '\\u003c'),
    );
    for (const name of readdirSync(DASHBOARD_DIR)) {
      const type = TYPES[name.slice(name.lastIndexOf('.'))];
      if (type) this.assets.set(name, { type, body: readFileSync(new URL(name, DASHBOARD_DIR), 'utf8') });
    }
  }

  @Access.public()
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  @Header('Content-Security-Policy', CSP)
  @Header('X-Content-Type-Options', 'nosniff')
  index(): string {
    return this.page;
  }

  @Access.public()
  @Get('ui/:file')
  asset(@Param('file') file: string, @Res() res: Response): void {
    const asset = this.assets.get(file);
    if (!asset) throw new NotFoundError(`no dashboard file ${JSON.stringify(file.slice(0, 60))}`);
    res
      .status(200)
      .set({ 'Content-Type': asset.type, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' })
      .send(asset.body);
  }
}
