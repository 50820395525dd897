/**
 * The README's runnable blocks, run as written against a real HTTP server on the embedded store, so the
 * documentation stays true. `readmeBlock(name)` reads the fenced bash block between
 * `<!-- name:start -->` and `<!-- name:end -->`; `useReadmeServer(tag)` serves a fresh SQLite store on a
 * free port for the surrounding describe().
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { promisify } from 'node:util';
import { testConfig } from '@availsync/testkit';
import { systemClock } from '../src/clock.js';
import { silentLogger } from '../src/logger.js';
import { createAvailsync, listen } from '../src/server.js';
import { createSqliteStore } from '../src/storage/store.js';

/** The README and the docs/ pages it links, as one text: the walk-throughs continue from one to the next. */
export function readmeText(): string {
  const root = new URL('../../../', import.meta.url);
  const docs = readdirSync(new URL('docs/', root)).filter((f) => f.endsWith('.md'));
  return ['README.md', ...docs.map((f) => `docs/${f}`)].map((f) => readFileSync(new URL(f, root), 'utf8')).join('\n');
}

export function readmeBlock(name: string): string {
  const re = new RegExp(`<!-- ${name}:start -->\\s*\`\`\`bash\\n([\\s\\S]*?)\`\`\`\\s*<!-- ${name}:end -->`);
  const block = re.exec(readmeText())?.[1];
  assert.ok(block, `README.md or docs/ has the ${name} block`);
  return block;
}

/** Run bash `script` with `API` pointing at the server; resolves with its stdout. */
export async function runBash(script: string, api: string): Promise<string> {
  const { stdout } = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script], { env: { ...process.env, API: api } });
  return stdout;
}

export function useReadmeServer(tag: string): { readonly url: string } {
  let dir = '';
  let http: Awaited<ReturnType<typeof listen>> | undefined;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), `availsync-${tag}-`));
    const store = createSqliteStore({ dataDir: dir, clock: systemClock });
    const instance = await createAvailsync({ config: testConfig, store, logger: silentLogger, sweeper: false });
    http = await listen(instance, 0, '127.0.0.1');
  });
  after(async () => {
    await http?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get url() {
      if (!http) throw new Error('the README server is not running yet');
      return http.url;
    },
  };
}
