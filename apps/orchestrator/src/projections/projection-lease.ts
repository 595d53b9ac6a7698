import pg from 'pg';

/**
 * Which orchestrator applies a projection when several run: the one holding a PostgreSQL session advisory lock
 * named after it. The lock lives exactly as long as its connection, which is a client of its own (a pooled one
 * would keep the lock when returned to the pool): an orchestrator that dies, even by SIGKILL, or loses its
 * database loses the lease, and a standby takes it at its next try.
 */
export class ProjectionLease {
  /** The lease's connection: open while standing by too, so a standby asks again without reconnecting. */
  private client?: pg.Client;
  private holding = false;
  /** Told once when a held lease is lost (its connection ended or stopped answering). */
  onLost: () => void = () => undefined;

  constructor(
    private readonly databaseUrl: string,
    private readonly projection: string,
  ) {}

  get held(): boolean {
    return this.holding;
  }

  /** Takes the lease if it is free; true when this process holds it (now or already). */
  async tryAcquire(): Promise<boolean> {
    if (this.holding) return true;
    try {
      const client = await this.connection();
      const rows = await client.query<{ taken: boolean }>(
        'SELECT pg_try_advisory_lock(hashtext($1)) AS taken',
        [`guardkit-projection:${this.projection}`],
      );
      this.holding = rows.rows[0]?.taken === true;
    } catch {
      await this.close(); // the database is away: not holding it, and a new connection next time
    }
    return this.holding;
  }

  /** Asks the lease's connection whether it still answers (a connection can die without a word). */
  async check(): Promise<void> {
    const client = this.client;
    if (!client || !this.holding) return;
    await client.query('SELECT 1').catch(() => this.lost(client));
  }

  /** Gives the lease up (the lock goes with the session). */
  async release(): Promise<void> {
    this.holding = false;
    await this.close();
  }

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({
      connectionString: this.databaseUrl,
      application_name: `guardkit-orchestrator lease ${this.projection}`,
    });
    client.on('error', () => this.lost(client)); // the server ended the session, or the socket broke
    client.on('end', () => this.lost(client));
    this.client = client;
    try {
      await client.connect();
    } catch (error) {
      await this.close();
      throw error;
    }
    return client;
  }

  private async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    client.removeAllListeners();
    client.on('error', () => undefined);
    await client.end().catch(() => undefined);
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    const wasHolding = this.holding;
    this.holding = false;
    void this.close();
    if (wasHolding) this.onLost();
  }
}
