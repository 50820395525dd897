/**
 * The package as consumers get it: build dist (ESM + CJS + .d.ts) with the package's own build script,
 * check it has no runtime dependency, then run tiny ESM, CommonJS and TypeScript (nodenext and classic
 * CommonJS resolution) consumer projects against the BUILT files and a real server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { VERSION } from '../src/index.js';
import { startServer, type TestServer } from './helpers.js';

const run = promisify(execFile);
const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const consumers = join(pkgDir, 'test/consumers');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));

function files(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files(path, out);
    else out.push(path);
  }
  return out;
}

describe('@availsync/node as published: dist, ESM, CommonJS, TypeScript', () => {
  let t: TestServer;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    await run(process.execPath, [join(pkgDir, 'scripts/build.mjs')], { cwd: pkgDir });
    // Type-check and compile both TypeScript consumers (one tsc process) against the built .d.ts while the server starts.
    [t] = await Promise.all([
      startServer('sqlite'),
      run(process.execPath, [tsc, '-b', join(consumers, 'ts-esm'), join(consumers, 'ts-cjs'), '--force']),
    ]);
    const ws = await t.workspace({ name: 'consumer' });
    // Plain node: no `source` condition, no tsx, so the package resolves to dist.
    env = {
      PATH: process.env.PATH,
      AVAILSYNC_API_KEY: ws.agent.key,
      AVAILSYNC_AGENT_ID: ws.agent.id,
      AVAILSYNC_API_URL: t.url,
    };
  });
  after(async () => {
    await t?.close();
    for (const c of ['ts-esm', 'ts-cjs']) rmSync(join(consumers, c, '.tmp'), { recursive: true, force: true });
  });

  it('has no runtime dependencies and the built files import only node: builtins and each other', () => {
    assert.equal(pkg.dependencies, undefined);
    assert.equal(pkg.version, VERSION, 'src/version.ts follows package.json');
    const built = files(join(pkgDir, 'dist')).filter((f) => /\.(js|d\.ts)$/.test(f));
    assert.ok(built.some((f) => f.endsWith('dist/esm/index.js')) && built.some((f) => f.endsWith('dist/cjs/index.js')));
    assert.ok(built.some((f) => f.endsWith('dist/esm/index.d.ts')) && built.some((f) => f.endsWith('dist/cjs/index.d.ts')));
    for (const file of built) {
      const text = readFileSync(file, 'utf8');
      const specifiers = [...text.matchAll(/(?:from\s+|require\(|import\()\s*['"]([^'"]+)['"]/g)].map((m) => m[1] ?? '');
      for (const s of specifiers) {
        assert.ok(s.startsWith('./') || s.startsWith('node:'), `${file} imports ${s}: only relative files and node: builtins are allowed`);
      }
    }
    assert.deepEqual(JSON.parse(readFileSync(join(pkgDir, 'dist/cjs/package.json'), 'utf8')), { type: 'commonjs' });
  });

  it('an ESM project imports it and runs withClaim', async () => {
    const { stdout } = await run(process.execPath, [join(consumers, 'esm/index.mjs')], { env });
    const out = JSON.parse(stdout);
    assert.deepEqual(out, {
      format: 'esm',
      action: 'proceed',
      result: 1,
      outcome: 'finished',
      isAvailsyncError: true,
      code: 'not_found',
      version: VERSION,
    });
  });

  it('a CommonJS project requires it (dist/cjs) and runs withClaim', async () => {
    const { stdout } = await run(process.execPath, [join(consumers, 'cjs/index.cjs')], { env });
    const out = JSON.parse(stdout);
    assert.equal(out.action, 'proceed');
    assert.equal(out.outcome, 'finished');
    assert.equal(out.isAvailsyncError, true);
    assert.equal(out.code, 'not_found');
    assert.match(out.resolved, /dist[\\/]cjs[\\/]index\.js$/);
  });

  it('a TypeScript ESM project (nodenext, strict) type-checks against the built .d.ts and runs', async () => {
    const { stdout } = await run(process.execPath, [join(consumers, 'ts-esm/.tmp/index.mjs')], { env });
    assert.deepEqual(JSON.parse(stdout), {
      format: 'ts-esm',
      action: 'proceed',
      result: 1,
      token: 1,
      isAvailsyncError: true,
      code: 'not_found',
    });
  });

  it('a TypeScript CommonJS project (classic node resolution) type-checks against the built .d.ts and runs', async () => {
    const { stdout } = await run(process.execPath, [join(consumers, 'ts-cjs/.tmp/index.js')], { env });
    assert.deepEqual(JSON.parse(stdout), {
      format: 'ts-cjs',
      action: 'proceed',
      result: 'active',
      isAvailsyncError: true,
      code: 'not_found',
    });
  });
});
