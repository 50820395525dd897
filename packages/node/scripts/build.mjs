#!/usr/bin/env node
/**
 * Build dist/esm (ESM + .d.ts, the composite project tsc -b also builds) and dist/cjs (CommonJS + .d.ts,
 * marked `"type": "commonjs"` so Node and TypeScript read it as CommonJS under this `"type": "module"` package).
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
// `--cjs`: dist/esm is already built (the root `npm run build` builds it with tsc -b); add only dist/cjs.
if (!process.argv.includes('--cjs')) {
  rmSync(join(pkg, 'dist'), { recursive: true, force: true });
  execFileSync(process.execPath, [tsc, '-p', join(pkg, 'tsconfig.json')], { stdio: 'inherit' });
}
execFileSync(process.execPath, [tsc, '-p', join(pkg, 'tsconfig.cjs.json')], { stdio: 'inherit' });
writeFileSync(join(pkg, 'dist/cjs/package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
