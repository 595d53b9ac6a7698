import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';

/** A real tmux server on its own socket (`tmux -L`), for delivery tests; TestEnv.cleanup kills it. */
export class TmuxServer {
  constructor(readonly socket: string) {}

  run(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('tmux', ['-L', this.socket, ...args], (error, stdout, stderr) =>
        error ? reject(new Error(`tmux ${args.join(' ')}: ${stderr || error.message}`)) : resolve(stdout),
      );
    });
  }

  /** A detached session running `command` (cat by default, which shows whatever is typed into it). */
  async newSession(name: string, command = 'cat'): Promise<void> {
    await this.run('new-session', '-d', '-s', name, '-x', '200', '-y', '50', command);
  }

  /** The pane's visible text. */
  async capture(target: string): Promise<string> {
    return this.run('capture-pane', '-p', '-J', '-t', target);
  }

  /** A session whose pane shows as dead: its program exited and tmux keeps the pane. */
  async newDeadPane(name: string): Promise<void> {
    await this.newSession(name, 'sleep 3600');
    await this.run('set-option', '-t', name, 'remain-on-exit', 'on');
    await this.run('respawn-pane', '-k', '-t', name, 'true');
  }

  async hasSession(name: string): Promise<boolean> {
    return this.run('has-session', '-t', `=${name}`).then(
      () => true,
      () => false,
    );
  }

  /**
   * A person at the terminal: a real tmux client attached through a pseudo-terminal (`script`), whose
   * keystrokes update tmux's client_activity as a human's would.
   */
  attach(session: string): AttachedClient {
    const child = spawn('script', ['-qfec', `tmux -L ${this.socket} attach -t =${session}`, '/dev/null'], {
      env: { ...process.env, TERM: 'xterm' },
    });
    return new AttachedClient(child, this, session);
  }
}

export class AttachedClient {
  constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly server: TmuxServer,
    private readonly session: string,
  ) {
    child.stdout.resume();
    child.stderr.resume();
  }

  /** Waits until tmux lists the client. */
  async ready(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const clients = await this.server.run('list-clients', '-t', `=${this.session}`).catch(() => '');
      if (clients.trim() !== '') return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no tmux client attached to ${this.session}`);
  }

  type(keys: string): void {
    this.child.stdin.write(keys);
  }

  detach(): void {
    this.child.kill('SIGKILL');
  }
}
