// Loaded by Jest outside its module registry, where the @sluice/* path aliases do not resolve.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stackStatus, stackUp } from '../../libs/stack/src';
import { TEST_STACK_DIR } from './paths';

/**
 * Starts the test stack unless it already runs, and remembers whether it did, so the teardown
 * stops exactly what this run started (by PID, through the stack scripts).
 */
export default async function globalSetup(): Promise<void> {
  const before = await stackStatus({ dir: TEST_STACK_DIR }).catch(() => undefined);
  const alreadyRunning = before?.healthy === true;
  const env = await stackUp({
    dir: TEST_STACK_DIR,
    log: (line) => process.stdout.write(`[stack] ${line}\n`),
  });
  Object.assign(process.env, env, { SLUICE_STACK_DIR: TEST_STACK_DIR });
  writeFileSync(join(TEST_STACK_DIR, 'started-by-tests'), alreadyRunning ? 'no' : 'yes');
}
