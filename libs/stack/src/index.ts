import { stackDir } from './paths';
import { readStackEnv as readEnvFile } from './state';
import type { StackEnv } from './types';

export {
  createTopic,
  produceMessages,
  setKafkaBroker,
  stackDown,
  stackKill,
  stackStatus,
  stackUp,
} from './stack';
export { stackDir } from './paths';
export { freePort } from './proc';
export * from './errors';
export * from './types';

/** Parses `<dir>/env` (default: the stack dir); undefined unless all three addresses are there. */
export function readStackEnv(dir?: string): StackEnv | undefined {
  return readEnvFile(dir ?? stackDir());
}
