#!/usr/bin/env node
/**
 * npm run pack: build everything, then write an installable tarball of every public package (each
 * packages/* whose package.json is not "private") to dist/packages/, as `npm pack` makes it for the
 * registry. `--no-build` packs what is built already. Prints one tarball per line.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'dist', 'packages');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

if (!process.argv.includes('--no-build')) execFileSync(npm, ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });

const packages = readdirSync(join(root, 'packages'))
  .filter((dir) => existsSync(join(root, 'packages', dir, 'package.json')))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => pkg.private !== true);

for (const { dir, pkg } of packages) {
  if (!existsSync(join(root, 'packages', dir, 'dist'))) {
    process.stderr.write(`pack: ${pkg.name} is not built (packages/${dir}/dist is missing): run npm run build, or drop --no-build.\n`);
    process.exit(1);
  }
}
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const args = ['pack', '--json', '--pack-destination', out, ...packages.flatMap(({ dir }) => ['-w', `packages/${dir}`])];
const packed = JSON.parse(execFileSync(npm, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
for (const p of packed) process.stdout.write(`${join(out, p.filename)}\n`);
