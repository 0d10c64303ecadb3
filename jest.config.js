// Two tiers: unit specs next to the code (no servers), integration tests under test/
// against the real local stack (started by the global setup when not running).
const swc = ['@swc/jest', {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
  },
  module: { type: 'commonjs' },
}];
const moduleNameMapper = {
  '^@sluice/(kafka|redis|clickhouse|pipeline|telemetry|stack)$': '<rootDir>/libs/$1/src',
  '^@sluice/(kafka|redis|clickhouse|pipeline|telemetry|stack)/(.*)$': '<rootDir>/libs/$1/src/$2',
};
module.exports = {
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/src', '<rootDir>/libs', '<rootDir>/tools'],
      testMatch: ['**/*.spec.ts'],
      transform: { '^.+\\.ts$': swc, '/node_modules/@marcbachmann/cel-js/.+\\.js$': swc },
      transformIgnorePatterns: ['/node_modules/(?!@marcbachmann/cel-js/)'],
      moduleNameMapper,
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.test.ts'],
      transform: { '^.+\\.ts$': swc, '/node_modules/@marcbachmann/cel-js/.+\\.js$': swc },
      transformIgnorePatterns: ['/node_modules/(?!@marcbachmann/cel-js/)'],
      moduleNameMapper,
      setupFilesAfterEnv: ['<rootDir>/test/support/jest-setup.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
