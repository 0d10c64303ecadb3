import { Module, type DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { destination } from 'pino';
import { AdminModule } from './admin/admin.module';
import { AuthModule } from './auth';
import { ClusterModule } from './cluster';
import { ConfigModule, type SluiceConfig } from './config';
import { HealthModule } from './health';
import { RedisModule } from './infra';
import { PipelinesModule } from './pipelines';
import { RolesModule } from './roles/roles.module';
import { TelemetryModule } from './telemetry/telemetry.module';

@Module({})
export class AppModule {
  static forConfig(config: SluiceConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot({
          pinoHttp: [
            {
              level: config.logLevel,
              base: { pid: process.pid, instance: config.instanceId },
              formatters: { level: (label: string) => ({ level: label }) },
              // Probes hit health endpoints every few seconds; logging each drowns the rest.
              autoLogging: { ignore: (req) => req.url?.startsWith('/health') ?? false },
              // Request lines carry the headers: a bearer token must never reach a log.
              redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '***' },
            },
            // Synchronous: after a clean close Nest re-raises SIGTERM at once, and an async
            // stdout buffer would lose the last lines (the roles' draining/stopped). Sluice logs
            // per batch and per transition, never per event, so sync writes cost nothing visible.
            destination({ dest: 1, sync: true }),
          ],
        }),
        // Before any controller: the global access guard and the check that every route declares it.
        AuthModule.forConfig(config),
        HealthModule,
        TelemetryModule,
        // Every process serves admin REST and keeps pipeline definitions in Redis.
        RedisModule,
        PipelinesModule,
        // Membership and placement: every process heartbeats and may coordinate.
        ClusterModule,
        AdminModule,
        RolesModule.forRoles(config.roles),
      ],
    };
  }
}
