import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

interface LogLine {
  level: string;
  msg: string;
  context?: string;
  role?: string;
  to?: string;
}

function logLines(proc: SluiceProcess): LogLine[] {
  return proc
    .text()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

describe('lifecycle', () => {
  it('logs structured JSON with the class as context and drains every role on SIGTERM', async () => {
    const proc = await SluiceProcess.start({
      env: { ...testStackEnv(), SHUTDOWN_TIMEOUT_MS: '10000' },
    });
    await proc.waitFor(
      async () => (await proc.get('/health/ready')).status === 200,
      30_000,
      'ready',
    );
    const exit = await proc.stop(15_000);
    // Nest re-raises the signal after a clean close, so the process ends by SIGTERM, not by a crash.
    expect(exit.signal === 'SIGTERM' || exit.code === 0).toBe(true);

    const lines = logLines(proc);
    const transitions = lines.filter((l) => l.context === 'RoleRegistry');
    for (const role of ['consumer', 'owner', 'writer']) {
      const states = transitions.filter((l) => l.role === role).map((l) => l.to);
      expect(states).toEqual(['starting', 'running', 'draining', 'stopped']);
    }
    expect(lines.some((l) => l.context === 'Shutdown' && l.msg.includes('SIGTERM'))).toBe(true);
  });
});
