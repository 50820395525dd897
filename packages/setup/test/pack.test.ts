/**
 * Clone installs: `npm run pack` writes an installable tarball of every public package, and those tarballs
 * install into a project of their own without the registry serving any @availsync/* package (the scope's
 * registry is pointed at a closed port; the packages come from the tarballs through file: specs and
 * overrides; third-party packages from the local npm cache, --prefer-offline). From there: the SDK by
 * require and by import, `availsync --help`, `availsync-setup --version`, and the MCP server over stdio,
 * listing its tools with the MCP SDK's client against a real server.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type LiveServer, ROOT, startServer } from '@availsync/testkit';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const PUBLIC = ['protocol', 'server', 'node', 'cli', 'mcp', 'setup'];
const CLOSED = 'http://127.0.0.1:9/';

const walk = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
const mtime = (f: string) => (existsSync(f) ? statSync(f).mtimeMs : 0);

/**
 * Whether every source file of a package is built: its output (tsconfig's outDir, .ts → .js) exists and is
 * no older than it, or the build checked it since (tsc -b leaves an output whose text did not change as it
 * was, and stamps its .tsbuildinfo instead). The server's dist also carries the dashboard's bundle.
 */
function fresh(pkg: string): boolean {
  const dir = join(ROOT, 'packages', pkg);
  const tsconfig = JSON.parse(readFileSync(join(dir, 'tsconfig.json'), 'utf8')) as { compilerOptions?: { outDir?: string } };
  const dist = join(dir, tsconfig.compilerOptions?.outDir ?? 'dist');
  const checked = Math.max(
    ...[join(dir, 'tsconfig.tsbuildinfo'), join(dist, 'tsconfig.tsbuildinfo'), join(dist, '..', 'tsconfig.tsbuildinfo')].map(mtime),
  );
  const src = join(dir, 'src');
  const built = walk(src)
    .filter((f) => /\.tsx?$/.test(f) && !f.endsWith('.d.ts'))
    .every((f) => {
      const out = join(dist, relative(src, f)).replace(/\.tsx?$/, '.js');
      return existsSync(out) && Math.max(mtime(out), checked) >= mtime(f);
    });
  if (!built || pkg !== 'server') return built;
  const bundle = mtime(join(dist, 'dashboard', 'index.html'));
  return walk(join(ROOT, 'packages', 'dashboard', 'src')).every((f) => bundle >= mtime(f));
}

/**
 * Pack, building first unless every public package's dist/ is as new as its sources (a stale dist would be
 * packed as it is); the tarball of each package by name.
 */
function pack(): Map<string, string> {
  const built = PUBLIC.every(fresh);
  const out = execFileSync(process.execPath, [join(ROOT, 'scripts', 'pack.mjs'), ...(built ? ['--no-build'] : [])], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // The build (when it runs) prints to stdout too: the tarballs are the lines naming one.
  const files = out
    .trim()
    .split('\n')
    .filter((l) => l.endsWith('.tgz'));
  return new Map(files.map((f) => [`@availsync/${/availsync-(\w+)-\d/.exec(f)?.[1]}`, f]));
}

describe('npm run pack: the tarballs install and run without the registry', () => {
  let tarballs: Map<string, string>;
  let project: string;
  let skipped: string | null = null;
  let t: LiveServer;

  before(async () => {
    tarballs = pack();
    t = await startServer('sqlite');
    project = mkdtempSync(join(tmpdir(), 'availsync-consumer-'));
    const file = (name: string) => `file:${tarballs.get(name)}`;
    const direct = ['@availsync/node', '@availsync/cli', '@availsync/mcp', '@availsync/setup'];
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({
        name: 'consumer',
        private: true,
        dependencies: Object.fromEntries(direct.map((n) => [n, file(n)])),
        // The packages depend on each other by version: every @availsync/* resolves to its tarball.
        overrides: { ...Object.fromEntries(direct.map((n) => [n, `$${n}`])), '@availsync/protocol': file('@availsync/protocol') },
      }),
    );
    const install = spawnSync(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', `--@availsync:registry=${CLOSED}`],
      { cwd: project, encoding: 'utf8', timeout: 240_000 },
    );
    if (install.status !== 0) {
      const why = `${install.stderr}${install.stdout}`;
      // A request for one of ours would go to the closed port: that is a failure, never a skip.
      assert.ok(!why.includes('127.0.0.1:9'), `npm asked the registry for an @availsync package:\n${why}`);
      if (process.env.CI) assert.fail(`npm install of the tarballs failed in CI:\n${why}`);
      skipped = `SKIPPED LOUDLY: the npm registry and the local cache cannot supply the third-party dependencies:\n${why}`;
      process.stderr.write(`\n*** ${skipped}\n`);
    }
  });
  after(async () => {
    await t?.close();
  });

  it('writes a tarball of every public package (the dashboard is private), with its bin launchers', () => {
    assert.deepEqual([...tarballs.keys()].sort(), PUBLIC.map((p) => `@availsync/${p}`).sort());
    for (const [name, file] of tarballs) {
      const listing = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).split('\n');
      const pkg = JSON.parse(execFileSync('tar', ['-xzOf', file, 'package/package.json'], { encoding: 'utf8' }));
      assert.equal(pkg.name, name);
      for (const target of Object.values((pkg.bin ?? {}) as Record<string, string>)) {
        assert.ok(listing.includes(`package/${target.replace(/^\.\//, '')}`), `${name}: ${target} is in the tarball`);
      }
      assert.ok(
        listing.some((f) => f.startsWith('package/dist/')),
        `${name} ships dist/`,
      );
    }
    // The server is packed (its launcher with it) but not installed here: better-sqlite3 builds natively.
  });

  it('the SDK loads by require and by import', (c) => {
    if (skipped) return c.skip(skipped);
    const cjs = spawnSync(process.execPath, ['-e', "process.stdout.write(typeof require('@availsync/node').createAvailsyncClient)"], {
      cwd: project,
      encoding: 'utf8',
    });
    assert.equal(cjs.stdout, 'function', cjs.stderr);
    const esm = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { createAvailsyncClient } from '@availsync/node'; process.stdout.write(typeof createAvailsyncClient)",
      ],
      { cwd: project, encoding: 'utf8' },
    );
    assert.equal(esm.stdout, 'function', esm.stderr);
  });

  it('availsync --help and availsync-setup --version answer', (c) => {
    if (skipped) return c.skip(skipped);
    const help = spawnSync(join(project, 'node_modules', '.bin', 'availsync'), ['--help'], { cwd: project, encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^Usage: availsync /);
    const version = spawnSync(join(project, 'node_modules', '.bin', 'availsync-setup'), ['--version'], { cwd: project, encoding: 'utf8' });
    assert.equal(version.status, 0, version.stderr);
    const { version: v } = JSON.parse(readFileSync(join(ROOT, 'packages', 'setup', 'package.json'), 'utf8'));
    assert.equal(version.stdout.trim(), v);
  });

  it('the MCP server starts over stdio and lists its tools', async (c) => {
    if (skipped) return c.skip(skipped);
    const ws = await t.workspace({ name: 'consumer' });
    const transport = new StdioClientTransport({
      command: join(project, 'node_modules', '.bin', 'availsync-mcp'),
      cwd: project,
      env: { PATH: process.env.PATH ?? '', AVAILSYNC_API_KEY: ws.agent.key, AVAILSYNC_AGENT_ID: ws.agent.id, AVAILSYNC_API_URL: t.url },
      stderr: 'ignore',
    });
    const client = new Client({ name: 'consumer', version: '1' });
    await client.connect(transport);
    try {
      const names = (await client.listTools()).tools.map((x) => x.name);
      for (const n of ['availsync_start_run', 'availsync_finish_run', 'availsync_check', 'availsync_create_hold'])
        assert.ok(names.includes(n), n);
    } finally {
      await client.close();
    }
  });
});
