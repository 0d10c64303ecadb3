export { Access, type AccessLevel } from './access.decorator';
export { AuthModule } from './auth.module';
export { Costly } from './costly';
export * from './tokens';
