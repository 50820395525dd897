#!/usr/bin/env node
/**
 * npm test: runs every package's tests with Node's test runner (through tsx), on SQLite and PostgreSQL.
 *
 * PostgreSQL is expected at AVAILSYNC_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
 * In CI (CI=true) an unreachable PostgreSQL fails the run. On a developer machine without it, the
 * PostgreSQL suite is skipped and this script says so loudly at the start and at the end.
 * Usage: npm test [-- <file filter substrings...>]
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import net from 'node:net';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const pgUrl = process.env.AVAILSYNC_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function findTests(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

function reachable(url) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || 5432) });
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

const filters = process.argv.slice(2);
const files = [...findTests(join(root, 'packages')), ...findTests(join(root, 'bench'))]
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

const pgUp = await reachable(pgUrl);
const env = { ...process.env, AVAILSYNC_TEST_DATABASE_URL: pgUrl };
const banner = '*** PostgreSQL is not reachable at ' + pgUrl + ': the PostgreSQL suite is SKIPPED. Only SQLite was tested. ***';
if (!pgUp) {
  if (process.env.CI) {
    console.error(`PostgreSQL is not reachable at ${pgUrl}; CI requires it. Start it (see README) and retry.`);
    process.exit(1);
  }
  env.AVAILSYNC_TEST_SKIP_PG = '1';
  console.warn(`\n${banner}\n`);
}

// Fault-injection suites kill processes and restart PostgreSQL: they run one at a time, after the rest.
const isFault = (f) => f.includes(`${join('test', 'faults')}`);
const groups = [
  { name: 'suites', files: files.filter((f) => !isFault(f)), concurrency: 2 },
  { name: 'fault-injection suites', files: files.filter(isFault), concurrency: 1 },
].filter((g) => g.files.length > 0);

function run(group) {
  console.log(`running ${group.files.length} ${group.name}: ${group.files.map((f) => relative(root, f)).join(', ')}`);
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        '--test',
        `--test-concurrency=${group.concurrency}`,
        '--test-reporter=spec',
        ...group.files,
      ],
      { stdio: 'inherit', env, cwd: root },
    );
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

let failed = 0;
for (const group of groups) {
  const code = await run(group);
  if (code !== 0) failed = code;
}
if (!pgUp) console.warn(`\n${banner}\n`);
process.exit(failed);
