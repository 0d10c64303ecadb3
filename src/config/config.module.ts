import { Global, Module, type DynamicModule } from '@nestjs/common';
import { SLUICE_CONFIG, type SluiceConfig } from './config';

/** Makes the configuration validated before boot injectable everywhere as SLUICE_CONFIG. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: SluiceConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: SLUICE_CONFIG, useValue: config }],
      exports: [SLUICE_CONFIG],
    };
  }
}
