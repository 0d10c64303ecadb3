// First: the tracing SDK registers before any other module is loaded.
import './tracing';
import 'reflect-metadata';
import type { Server } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { serveApiDocs } from './admin/api-docs';
import { AppModule } from './app.module';
import { ConfigError, loadConfig, type SluiceConfig } from './config';
import { resolveEnvironment } from './config/embedded-stack';
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
  // CORS stays off (browsers of other origins may neither read answers nor send non-simple
  // requests) unless the operator names the origins of a UI that needs it.
  if (config.api.corsOrigins.length > 0) {
    app.enableCors({
      origin: config.api.corsOrigins.includes('*') ? '*' : config.api.corsOrigins,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type'],
      maxAge: 600,
    });
  }
  // Routes of their own (not controllers), served to every client like /health: the API's
  // shape is no secret, and the docs page's own requests carry the token the user enters.
  serveApiDocs(app);
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

bootstrap().catch((err: unknown) => {
  process.stderr.write(
    `Sluice failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
