/**
 * The oldest Node the SDK supports (package.json `engines`: >=18), to run the consumer projects on.
 *
 * Node's own binaries are published on the npm registry as `node-<platform>-<arch>` packages (the `node`
 * package installs them). They are not a dependency of this repository: their `bin` is named `node`, so
 * npm would link it as `node_modules/.bin/node` and every npm script would run on Node 18. The test fetches
 * the tarball with `npm pack` instead, once, into `node_modules/.cache`, and runs its binary by path.
 *
 * `AVAILSYNC_TEST_NODE18=/path/to/node` uses a Node 18 of your own. Without one and without the registry,
 * the Node 18 check is skipped on a developer machine with a loud message; in CI (CI=true) it fails.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The exact release tested: 18.20.8 is the last Node 18. */
export const OLDEST_NODE = '18.20.8';

const cacheDir = fileURLToPath(new URL(`../../../node_modules/.cache/availsync-node-${OLDEST_NODE}`, import.meta.url));

/** The path to a Node 18 binary, or why there is none. */
export async function oldestNode(): Promise<{ path: string } | { missing: string }> {
  const own = process.env.AVAILSYNC_TEST_NODE18;
  if (own) return existsSync(own) ? { path: own } : { missing: `AVAILSYNC_TEST_NODE18=${own} does not exist` };
  if (process.platform !== 'linux' && process.platform !== 'darwin') {
    return { missing: `no node-${process.platform}-${process.arch} tarball with bin/node; set AVAILSYNC_TEST_NODE18` };
  }
  const bin = join(cacheDir, 'package', 'bin', 'node');
  // A binary left half-unpacked by an interrupted run does not answer its version: fetch it again.
  if (existsSync(bin) && (await version(bin)) === `v${OLDEST_NODE}`) return { path: bin };
  const pkg = `node-${process.platform}-${process.arch}@${OLDEST_NODE}`;
  try {
    rmSync(cacheDir, { recursive: true, force: true });
    mkdirSync(cacheDir, { recursive: true });
    await run('npm', ['pack', pkg, '--pack-destination', cacheDir, '--silent'], { timeout: 180_000 });
    const tarball = readdirSync(cacheDir).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack ${pkg} wrote no tarball`);
    await run('tar', ['-xzf', tarball], { cwd: cacheDir });
    rmSync(join(cacheDir, tarball));
    const got = await version(bin);
    if (got !== `v${OLDEST_NODE}`) throw new Error(`${bin} is ${got}, not v${OLDEST_NODE}`);
    return { path: bin };
  } catch (err) {
    rmSync(cacheDir, { recursive: true, force: true });
    return { missing: `could not fetch ${pkg} from the npm registry: ${(err as Error).message.split('\n')[0]}` };
  }
}

async function version(bin: string): Promise<string> {
  try {
    return (await run(bin, ['--version'])).stdout.trim();
  } catch {
    return 'unrunnable';
  }
}
