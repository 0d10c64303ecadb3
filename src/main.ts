// First: the tracing SDK registers before any other module is loaded.
import './tracing';
import 'reflect-metadata';
import type { Server } from 'node:http';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { ConfigError, loadConfig, type SluiceConfig } from './config';
import { resolveEnvironment } from './config/embedded-stack';
import { OWNER_THREAD_DATA, THREAD_READY, THREAD_STOP } from './owner-thread';
import { armShutdownDeadline } from './shutdown';

/** Plain stderr line for what happens before the structured logger exists. */
function bootLog(message: string): void {
  process.stderr.write(
    `${JSON.stringify({ level: 'info', context: 'Bootstrap', msg: message })}\n`,
  );
}

async function configure(): Promise<SluiceConfig> {
  const { env, embeddedStack } = await resolveEnvironment(process.env, bootLog);
  return loadConfig(env, embeddedStack);
}

async function bootstrap(): Promise<void> {
  let config: SluiceConfig;
  try {
    config = await configure();
  } catch (err) {
    // One message naming every bad key, then exit 1: nothing of Nest has started yet.
    const message = err instanceof ConfigError ? err.message : `Startup failed: ${String(err)}`;
    process.stderr.write(`${message}\n`);
    process.exit(1);
  }

  const app = await NestFactory.create(AppModule.forConfig(config), { bufferLogs: true });
  app.useLogger(app.get(Logger));
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  armShutdownDeadline(config.shutdownTimeoutMs, app.get(Logger));
  await app.listen(config.port, '0.0.0.0');
  const server = app.getHttpServer() as Server;
  const address = server.address() as { port: number } | null;
  app
    .get(Logger)
    .log(
      { roles: config.roles, port: address?.port, embeddedStack: config.embeddedStack },
      `Sluice listening on port ${address?.port ?? config.port} with roles ${config.roles.join(',')}`,
      'Bootstrap',
    );
}

/**
 * The owner thread (OWNER_THREAD=1, see owner-thread.ts): the same application with the thread's
 * roles, no HTTP listener, stopped by its parent (signals reach the main thread only).
 */
async function bootstrapOwnerThread(port: NonNullable<typeof parentPort>): Promise<void> {
  const app = await NestFactory.create(AppModule.forConfig(await configure()), {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  await app.init();
  // listen() flushes the logs buffered during start-up; the thread does not listen.
  app.flushLogs();
  port.once('message', (message) => {
    if (message !== THREAD_STOP) return;
    void app.close().finally(() => process.exit(0));
  });
  port.postMessage(THREAD_READY);
}

const inOwnerThread =
  !isMainThread &&
  parentPort !== null &&
  (workerData as typeof OWNER_THREAD_DATA | undefined)?.sluiceOwnerThread === true;

(inOwnerThread && parentPort ? bootstrapOwnerThread(parentPort) : bootstrap()).catch(
  (err: unknown) => {
    process.stderr.write(
      `Sluice failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
