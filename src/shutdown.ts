import type { LoggerService } from '@nestjs/common';

/**
 * Nest's shutdown hooks close the app on SIGTERM/SIGINT, but a hung close (a stuck socket, an
 * insert that never returns) must not keep a process alive forever: after the deadline the
 * process exits with code 1 whatever is still running. The timer is unref'd so it never holds
 * the process open by itself.
 */
export function armShutdownDeadline(timeoutMs: number, logger: LoggerService): void {
  let armed = false;
  const arm = (signal: NodeJS.Signals) => {
    if (armed) return;
    armed = true;
    logger.log(`${signal} received: shutting down (deadline ${timeoutMs} ms)`, 'Shutdown');
    setTimeout(() => {
      logger.error(
        `shutdown did not finish within ${timeoutMs} ms: forcing exit`,
        undefined,
        'Shutdown',
      );
      process.exit(1);
    }, timeoutMs).unref();
  };
  process.once('SIGTERM', arm);
  process.once('SIGINT', arm);
}
