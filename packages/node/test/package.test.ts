/**
 * The package as consumers get it: build dist (ESM + CJS + .d.ts) with the package's own build script,
 * check it has no runtime dependency, then run tiny ESM, CommonJS and TypeScript (nodenext and classic
 * CommonJS resolution) consumer projects against the BUILT files and a real server: on this Node, and on
 * Node 18, the oldest the package supports (see oldest-node.ts).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type LiveServer, startServer } from '@availsync/testkit';
import { VERSION } from '../src/index.js';
import { OLDEST_NODE, oldestNode } from './oldest-node.js';

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
  let t: LiveServer;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    await run(process.execPath, [join(pkgDir, 'scripts/build.mjs')], { cwd: pkgDir });
    // Type-check and compile both TypeScript consumers (one tsc process) against the built .d.ts while the server starts.
    [t] = await Promise.all([
      startServer('sqlite'),
      run(process.execPath, [tsc, '-b', join(consumers, 'ts-esm'), join(consumers, 'ts-cjs'), '--force']),
    ]);
    env = await consumerEnv('consumer');
  });
  /** A fresh workspace and agent; plain node (no `source` condition, no tsx), so the package resolves to dist. */
  async function consumerEnv(name: string): Promise<NodeJS.ProcessEnv> {
    const ws = await t.workspace({ name });
    return {
      PATH: process.env.PATH,
      AVAILSYNC_API_KEY: ws.agent.key,
      AVAILSYNC_AGENT_ID: ws.agent.id,
      AVAILSYNC_API_URL: t.url,
    };
  }
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
    CHECKS['esm/index.mjs'](await consume(process.execPath, 'esm/index.mjs', env));
  });

  it('a CommonJS project requires it (dist/cjs) and runs withClaim', async () => {
    CHECKS['cjs/index.cjs'](await consume(process.execPath, 'cjs/index.cjs', env));
  });

  it('a TypeScript ESM project (nodenext, strict) type-checks against the built .d.ts and runs', async () => {
    CHECKS['ts-esm/.tmp/index.mjs'](await consume(process.execPath, 'ts-esm/.tmp/index.mjs', env));
  });

  it('a TypeScript CommonJS project (classic node resolution) type-checks against the built .d.ts and runs', async () => {
    CHECKS['ts-cjs/.tmp/index.js'](await consume(process.execPath, 'ts-cjs/.tmp/index.js', env));
  });

  it(`runs on Node ${OLDEST_NODE}, the oldest Node it supports: the same four consumers give the same answers`, async (ctx) => {
    const node = await oldestNode();
    if ('missing' in node) {
      if (process.env.CI) assert.fail(`${node.missing}. CI requires the Node 18 check.`);
      console.warn(`\n*** ${node.missing}: the SDK's Node ${OLDEST_NODE} check is SKIPPED ***\n`);
      ctx.skip(node.missing);
      return;
    }
    const { stdout } = await run(node.path, ['-p', 'process.version']);
    assert.equal(stdout.trim(), `v${OLDEST_NODE}`);
    // A workspace of its own, so each consumer's first claim has fencing token 1 again.
    const env18 = await consumerEnv('consumer-node18');
    for (const [entry, check] of Object.entries(CHECKS)) check(await consume(node.path, entry, env18));
  });
});

/** Run one consumer project with `node` and parse the JSON line it prints. */
async function consume(node: string, entry: string, env: NodeJS.ProcessEnv) {
  const { stdout } = await run(node, [join(consumers, entry)], { env });
  return JSON.parse(stdout);
}

/** What each consumer project prints, run against a workspace of its own. */
const CHECKS = {
  'esm/index.mjs': (out) =>
    assert.deepEqual(out, {
      format: 'esm',
      action: 'proceed',
      result: 1,
      outcome: 'finished',
      isAvailsyncError: true,
      code: 'not_found',
      version: VERSION,
    }),
  'cjs/index.cjs': (out) => {
    assert.equal(out.action, 'proceed');
    assert.equal(out.outcome, 'finished');
    assert.equal(out.isAvailsyncError, true);
    assert.equal(out.code, 'not_found');
    assert.match(String(out.resolved), /dist[\\/]cjs[\\/]index\.js$/);
  },
  'ts-esm/.tmp/index.mjs': (out) =>
    assert.deepEqual(out, {
      format: 'ts-esm',
      action: 'proceed',
      result: 1,
      token: 1,
      isAvailsyncError: true,
      code: 'not_found',
    }),
  'ts-cjs/.tmp/index.js': (out) =>
    assert.deepEqual(out, {
      format: 'ts-cjs',
      action: 'proceed',
      result: 'active',
      isAvailsyncError: true,
      code: 'not_found',
    }),
} satisfies Record<string, (out: Record<string, unknown>) => void>;
