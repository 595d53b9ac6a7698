import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { InboxMessageView, SavedScript } from '#contracts';

type Row = Record<string, unknown>;

const toScript = (r: Row): SavedScript => ({
  id: r.id as number,
  title: r.title as string,
  script_text: r.script_text as string,
  script_version: r.script_version as number,
  script_format: r.script_format as string,
  ir: r.ir ?? null,
  created_at: (r.created_at as Date).toISOString(),
  updated_at: (r.updated_at as Date).toISOString(),
});

/** Every SQL statement about AutoAppDev's saved scripts and inbox messages (RETURNING through a CTE: see PipelineRepository). */
@Injectable()
export class AutoAppDevRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async listScripts(limit: number): Promise<SavedScript[]> {
    return (
      await this.db.query<Row[]>(`SELECT * FROM pipeline_scripts ORDER BY id DESC LIMIT $1`, [limit])
    ).map(toScript);
  }

  async getScript(id: number): Promise<SavedScript | undefined> {
    const rows = await this.db.query<Row[]>(`SELECT * FROM pipeline_scripts WHERE id = $1`, [id]);
    return rows[0] ? toScript(rows[0]) : undefined;
  }

  async latestScript(): Promise<SavedScript | undefined> {
    const rows = await this.db.query<Row[]>(
      `SELECT * FROM pipeline_scripts ORDER BY updated_at DESC, id DESC LIMIT 1`,
    );
    return rows[0] ? toScript(rows[0]) : undefined;
  }

  async createScript(
    s: Omit<SavedScript, 'id' | 'created_at' | 'updated_at'>,
    at: Date,
  ): Promise<SavedScript> {
    const rows = await this.db.query<Row[]>(
      `INSERT INTO pipeline_scripts (title, script_text, script_version, script_format, ir, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING *`,
      [
        s.title,
        s.script_text,
        s.script_version,
        s.script_format,
        s.ir === null ? null : JSON.stringify(s.ir),
        at,
      ],
    );
    return toScript(rows[0]);
  }

  async updateScript(
    id: number,
    change: Partial<Pick<SavedScript, 'title' | 'script_text' | 'script_version' | 'script_format'>> & {
      ir?: unknown;
    },
    at: Date,
  ): Promise<SavedScript | undefined> {
    const rows = await this.db.query<Row[]>(
      `WITH changed AS (UPDATE pipeline_scripts SET
         title = COALESCE($2, title), script_text = COALESCE($3, script_text),
         script_version = COALESCE($4, script_version), script_format = COALESCE($5, script_format),
         ir = CASE WHEN $6 THEN $7::jsonb ELSE ir END, updated_at = $8
       WHERE id = $1 RETURNING *) SELECT * FROM changed`,
      [
        id,
        change.title ?? null,
        change.script_text ?? null,
        change.script_version ?? null,
        change.script_format ?? null,
        'ir' in change,
        change.ir === undefined || change.ir === null ? null : JSON.stringify(change.ir),
        at,
      ],
    );
    return rows[0] ? toScript(rows[0]) : undefined;
  }

  async deleteScript(id: number): Promise<boolean> {
    const rows = await this.db.query<Row[]>(
      `WITH gone AS (DELETE FROM pipeline_scripts WHERE id = $1 RETURNING id) SELECT id FROM gone`,
      [id],
    );
    return rows.length > 0;
  }

  /** The newest `limit` messages, oldest first (as AutoAppDev lists them). */
  async listInbox(limit: number): Promise<InboxMessageView[]> {
    const rows = await this.db.query<Row[]>(
      `SELECT * FROM (SELECT * FROM inbox_messages ORDER BY id DESC LIMIT $1) newest ORDER BY id`,
      [limit],
    );
    return rows.map((r) => ({
      id: r.id as number,
      role: r.role as string,
      content: r.content as string,
      created_at: (r.created_at as Date).toISOString(),
    }));
  }

  async addInbox(role: string, content: string, at: Date): Promise<void> {
    await this.db.query(`INSERT INTO inbox_messages (role, content, created_at) VALUES ($1, $2, $3)`, [
      role,
      content,
      at,
    ]);
  }
}
