import { Module } from '@nestjs/common';
import { ProcessController } from './process.controller';

/** Admin REST, served by every process whatever its roles. */
@Module({ controllers: [ProcessController] })
export class AdminModule {}
