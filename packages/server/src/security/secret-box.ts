/**
 * Secrets that the server must read back (a webhook's signing secret signs every delivery, so it cannot
 * be only hashed) are sealed at rest with AES-256-GCM. The key is AVAILSYNC_SECRETS_KEY (base64, 32
 * bytes); without it the embedded store generates one once into `<data dir>/secrets.key` (mode 0600,
 * beside the database it protects, inside the git-ignored data dir). A database server has no such
 * directory shared by every node: there the key must be configured, and sealing without it is refused.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError } from '../errors.js';

const VERSION = 'v1';

export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('secret box key must be 32 bytes');
  }

  /** `v1.<iv>.<tag>.<ciphertext>` (base64url). `context` (the owner's id) is bound as associated data. */
  seal(plain: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context));
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), ct].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
  }

  open(sealed: string, context: string): string {
    const [version, iv, tag, ct] = sealed.split('.');
    if (version !== VERSION || !iv || !tag || ct === undefined) throw new Error('not a sealed secret');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
  }
}

/** The answer when a secret must be sealed and no key can be had (a database server without the env var). */
export function secretsKeyMissing(): ApiError {
  return new ApiError(
    'service_unavailable',
    'Webhook secrets are encrypted at rest: set AVAILSYNC_SECRETS_KEY (32 random bytes, base64: openssl rand -base64 32) on every server node and restart.',
    { reason: 'secrets_key_missing', env: 'AVAILSYNC_SECRETS_KEY' },
  );
}

/**
 * The key: configured, else the embedded store's key file (made on first use; an in-memory store gets a
 * key for its own lifetime), else undefined.
 */
export function loadSecretsKey(configured: string | undefined, dataDir: string | undefined): Buffer | undefined {
  if (configured) return Buffer.from(configured, 'base64');
  if (dataDir === undefined) return undefined;
  if (dataDir === ':memory:') return randomBytes(32);
  const file = join(dataDir, 'secrets.key');
  if (!existsSync(file)) {
    try {
      // `wx`: of two processes racing to make it, one writes and the other reads what was written.
      writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
  return key;
}
