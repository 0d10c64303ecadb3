// Loaded by Jest outside its module registry, where the @sluice/* path aliases do not resolve.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { stackDown } from '../../libs/stack/src';
import { TEST_STACK_DIR } from './paths';

/** Stops the test stack only when this run started it; a stack someone else runs is left alone. */
export default async function globalTeardown(): Promise<void> {
  const marker = join(TEST_STACK_DIR, 'started-by-tests');
  let startedByTests = false;
  try {
    startedByTests = readFileSync(marker, 'utf8') === 'yes';
  } catch {
    return;
  }
  rmSync(marker, { force: true });
  if (startedByTests && process.env.SLUICE_KEEP_STACK !== '1')
    await stackDown({ dir: TEST_STACK_DIR });
}
