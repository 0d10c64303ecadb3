import { readStackEnv, type StackEnv } from '@sluice/stack';
import { TEST_STACK_DIR } from './paths';

/** The addresses of the test stack that the global setup started (or found running). */
export function testStackEnv(): StackEnv {
  const env = readStackEnv(TEST_STACK_DIR);
  if (!env) throw new Error(`no test stack in ${TEST_STACK_DIR}: the global setup did not run`);
  return env;
}
