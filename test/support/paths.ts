import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..');
/** Tests get their own stack so they never disturb a developer's running `npm start`. */
export const TEST_STACK_DIR = process.env.SLUICE_STACK_DIR ?? join(REPO_ROOT, '.stack-test');
/** The build the tests spawn; SLUICE_MAIN_JS points them at another (e.g. an older build). */
export const MAIN_JS = process.env.SLUICE_MAIN_JS ?? join(REPO_ROOT, 'dist', 'src', 'main.js');
