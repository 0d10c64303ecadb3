// Secrets in pipeline definitions (issue 18): stored either sealed with AES-256-GCM under
// SECRETS_KEY, or as a reference `${env:NAME}` / `${file:/path}` that the process connecting with
// it resolves. Never in the clear: Redis and its AOF only ever see the sealed form or the reference.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';

const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const SECRETS_KEY_RE = /^[0-9a-fA-F]{64}$/;
const REF_RE = /^\$\{(env|file):(.*)\}$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type SecretRef = { kind: 'env'; name: string } | { kind: 'file'; path: string };

/** A refused or unresolvable secret; `message` never contains the secret. */
export class SecretError extends Error {
  override readonly name = 'SecretError';
}

export function isSealed(value: string): boolean {
  return value.startsWith(PREFIX);
}

/** The reference a value spells, undefined for a literal; throws SecretError when malformed. */
export function parseSecretRef(value: string): SecretRef | undefined {
  const match = REF_RE.exec(value);
  if (!match) return undefined;
  const [, kind, target = ''] = match;
  if (kind === 'env') {
    if (!ENV_NAME_RE.test(target)) throw new SecretError(`"${target}" is not a variable name`);
    return { kind, name: target };
  }
  if (!isAbsolute(target)) throw new SecretError('a ${file:...} reference needs an absolute path');
  return { kind: 'file', path: target };
}

/** Short key id stored with each sealed value, so a rotation knows which key opens it. */
function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** Seals with SECRETS_KEY; opens with it or SECRETS_KEY_PREVIOUS (rotation). */
export class SecretBox {
  private readonly keys = new Map<string, Buffer>();
  private readonly current: { id: string; key: Buffer } | undefined;

  /** Keys as 64 hex characters; the first is the one that seals. */
  constructor(current?: string, previous?: string) {
    for (const hex of [current, previous]) {
      if (hex === undefined) continue;
      if (!SECRETS_KEY_RE.test(hex)) throw new SecretError('a key must be 64 hex characters');
      const key = Buffer.from(hex, 'hex');
      this.keys.set(keyId(key), key);
    }
    if (current !== undefined) {
      const key = Buffer.from(current, 'hex');
      this.current = { id: keyId(key), key };
    }
  }

  get canSeal(): boolean {
    return this.current !== undefined;
  }

  /** True when the value is sealed under another key than the current one (rotation pending). */
  needsReseal(sealed: string): boolean {
    return isSealed(sealed) && sealed.slice(PREFIX.length).split(':')[0] !== this.current?.id;
  }

  seal(plain: string): string {
    if (!this.current) throw new SecretError('SECRETS_KEY is not set');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const blob = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
    return `${PREFIX}${this.current.id}:${blob}`;
  }

  open(sealed: string): string {
    const [id = '', blob = ''] = sealed.slice(PREFIX.length).split(':');
    const key = this.keys.get(id);
    if (!key) {
      throw new SecretError(
        `sealed under key ${id}, which is neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS`,
      );
    }
    const raw = Buffer.from(blob, 'base64');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)),
        decipher.final(),
      ]);
      return plain.toString('utf8');
    } catch {
      throw new SecretError('sealed value is corrupt (authentication failed)');
    }
  }
}

export interface ResolveEnvironment {
  env: NodeJS.ProcessEnv;
  readFile: (path: string) => string;
}

const PROCESS: ResolveEnvironment = {
  env: process.env,
  readFile: (path) => readFileSync(path, 'utf8'),
};

/**
 * The secret's value in this process: a reference is read from this process's environment or
 * files, a sealed value opened. A literal is returned as it is (definitions stored before secrets
 * were sealed). A file's trailing newline is dropped, as secret files usually end with one.
 */
export function resolveSecret(
  value: string,
  box: SecretBox,
  where: ResolveEnvironment = PROCESS,
): string {
  if (isSealed(value)) return box.open(value);
  const ref = parseSecretRef(value);
  if (!ref) return value;
  if (ref.kind === 'env') {
    const found = where.env[ref.name];
    if (found === undefined) {
      throw new SecretError(`environment variable ${ref.name} is not set in this process`);
    }
    return found;
  }
  try {
    return where.readFile(ref.path).replace(/\r?\n$/, '');
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'error';
    throw new SecretError(`cannot read ${ref.path} (${code})`);
  }
}
