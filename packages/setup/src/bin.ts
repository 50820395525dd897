#!/usr/bin/env node
import { homedir } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from './main.js';

main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  home: process.env.HOME || homedir(),
  cwd: process.cwd(),
  selfDir: dirname(fileURLToPath(import.meta.url)),
}).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`availsync-setup: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(70);
  },
);
