import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { MAIN_JS, REPO_ROOT } from './paths';

/** Asks the OS for a free loopback port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  env: NodeJS.ProcessEnv;
  /** Do not wait for readiness (for processes expected to fail or to be unready). */
  noWait?: boolean;
}

/**
 * A Sluice process started from the compiled build as a real OS process, the way it runs in
 * production. Output is kept for assertions; stop() and kill() act on this PID only.
 */
export class SluiceProcess {
  readonly output: string[] = [];
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
  }

  static async start(options: StartOptions): Promise<SluiceProcess> {
    const port = options.env.PORT ? Number(options.env.PORT) : await freePort();
    const child = spawn(process.execPath, [MAIN_JS], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, LOG_LEVEL: 'info', ...options.env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new SluiceProcess(child, port);
    if (!options.noWait)
      await proc.waitFor(
        async () => (await proc.get('/health/live')).status === 200,
        60_000,
        'live',
      );
    return proc;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  text(): string {
    return this.output.join('');
  }

  async get(path: string): Promise<{ status: number; body: unknown }> {
    const response = await fetch(`http://127.0.0.1:${this.port}${path}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body };
  }

  /** The last `chars` of the log without the admin API's request lines (tests poll it often). */
  logTail(chars: number): string {
    const lines = this.text()
      .split('\n')
      .filter((line) => !line.includes('"msg":"request completed"'));
    return lines.join('\n').slice(-chars);
  }

  /**
   * Polls until the check passes; a fetch error counts as "not yet". `what` may be a function so
   * a timeout can say what was last seen (counters, watermarks), not only what was awaited.
   */
  async waitFor(
    check: () => Promise<boolean>,
    timeoutMs: number,
    what: string | (() => string),
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const describe = () => (typeof what === 'string' ? what : what());
    for (;;) {
      if (!this.running)
        throw new Error(`process exited while waiting for ${describe()}:\n${this.text()}`);
      if (await check().catch(() => false)) return;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${describe()}:\n${this.logTail(4000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async waitForExit(
    timeoutMs = 30_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`process ${this.pid} did not exit in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Graceful stop (SIGTERM); SIGKILL if it outlives the deadline. Safe to call twice. */
  async stop(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.running) return this.exitInfo!;
    this.child.kill('SIGTERM');
    try {
      return await this.waitForExit(timeoutMs);
    } catch {
      this.child.kill('SIGKILL');
      return this.waitForExit(5_000);
    }
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.waitForExit(5_000);
  }
}
