import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  linkSync,
  openSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceStartError, StackLockError } from './errors';

export { sleep };

interface ProcInfo {
  state: string;
  startTicks: number;
}

/** /proc/PID/stat; the command name may hold spaces and parentheses, so split after the last ')'. */
function procInfo(pid: number): ProcInfo | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: field 3 (state) is index 0, field 22 (starttime) is index 19.
  return { state: fields[0] ?? '?', startTicks: Number(fields[19]) };
}

/** A zombie has exited: it only waits for its parent (or init) to reap it. */
export function isAlive(pid: number): boolean {
  const info = procInfo(pid);
  return info !== undefined && info.state !== 'Z' && info.state !== 'X';
}

export function startTicks(pid: number): number | undefined {
  return procInfo(pid)?.startTicks;
}

/**
 * True only for a live process that we started for this stack dir: same start time as recorded,
 * and its command line or working directory names the stack dir. A PID reused by anything else
 * fails one of these and is never signalled.
 */
export function isOurProcess(pid: number, dir: string, ticks: number | undefined): boolean {
  const info = procInfo(pid);
  if (!info || info.state === 'Z' || info.state === 'X') return false;
  if (ticks !== undefined && info.startTicks !== ticks) return false;
  try {
    // Whole arguments, not substrings: /tmp/a must not claim a server of /tmp/ab.
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const namesDir = (arg: string) => arg.endsWith(`=${dir}`) || arg.startsWith(`${dir}/`);
    if (args.some(namesDir)) return true;
    const real = existsSync(dir) ? realpathSync(dir) : dir;
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    return cwd === real || cwd.startsWith(`${real}/`);
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** SIGTERM, then SIGKILL once the deadline passes; resolves when the process is gone. */
export async function terminate(pid: number, graceMs: number): Promise<'exited' | 'killed'> {
  signal(pid, 'SIGTERM');
  if (await waitForExit(pid, graceMs)) return 'exited';
  signal(pid, 'SIGKILL');
  await waitForExit(pid, 5_000);
  return 'killed';
}

export async function kill9(pid: number): Promise<void> {
  signal(pid, 'SIGKILL');
  await waitForExit(pid, 5_000);
}

/**
 * Detached, own session, stdio to a log file, unref'd: the server outlives the CLI that started
 * it, and a Ctrl-C in the developer's terminal does not reach it.
 */
export function spawnDetached(
  command: string,
  args: string[],
  opts: { cwd: string; logFile: string },
): number {
  const fd = openSync(opts.logFile, 'a');
  try {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    // A failed exec surfaces as an async 'error'; without a listener it would crash the caller.
    child.on('error', () => undefined);
    child.unref();
    if (child.pid === undefined) throw new ServiceStartError(`could not spawn ${command}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** Asks the kernel for a free loopback port; the small race until the server binds is accepted. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once('error', () => resolveFree(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolveFree(true)));
  });
}

/** The recorded port when it is still free (same address across restarts), else a new one. */
export async function reusePort(
  recorded: number | undefined,
  log: (line: string) => void,
): Promise<number> {
  if (recorded !== undefined) {
    if (await portIsFree(recorded)) return recorded;
    log(`port ${recorded} is taken by another program; picking a new one`);
  }
  return freePort();
}

export function logTail(file: string, lines = 25): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd().split('\n');
    return text.slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * A lock file created atomically by link(2) with the holder's PID inside; a lock whose holder is
 * dead is taken over. Guards `up`/`down` from racing (e.g. the app's embedded start and a CLI).
 */
let lockSeq = 0;

export async function withLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  // Unique per call, so two calls in one process never share (and delete) each other's file.
  const mine = `${file}.${process.pid}.${++lockSeq}`;
  writeFileSync(mine, String(process.pid));
  const deadline = Date.now() + 300_000;
  try {
    for (;;) {
      try {
        linkSync(mine, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let holder: number;
      try {
        holder = Number(readFileSync(file, 'utf8'));
      } catch {
        continue; // released between our link and our read
      }
      if (!isAlive(holder)) {
        rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new StackLockError(`${file} is held by PID ${holder}; is another \`up\` hanging?`);
      }
      await sleep(100);
    }
  } finally {
    rmSync(mine, { force: true });
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}
