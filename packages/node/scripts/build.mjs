#!/usr/bin/env node
/**
 * Build dist/esm (ESM + .d.ts, the composite project tsc -b also builds) and dist/cjs (CommonJS + .d.ts,
 * marked `"type": "commonjs"` so Node and TypeScript read it as CommonJS under this `"type": "module"` package).
 * `--cjs`: dist/esm is already built (the root `npm run build` builds it with tsc -b); add only dist/cjs.
 */
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

function compile(project) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, '-p', join(pkg, project)], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`tsc -p ${project} failed (${code})`))));
  });
}

const cjsOnly = process.argv.includes('--cjs');
if (!cjsOnly) rmSync(join(pkg, 'dist'), { recursive: true, force: true });
// The two builds are independent: run them side by side.
await Promise.all([cjsOnly ? undefined : compile('tsconfig.json'), compile('tsconfig.cjs.json')]);
writeFileSync(join(pkg, 'dist/cjs/package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
