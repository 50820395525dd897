#!/usr/bin/env node
// `availsync-setup`: npm links a bin when it installs, before `npm run build` has written dist/, so the link
// points at this committed launcher, which starts the built program (or says how to build it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    `availsync-setup: not built yet (${fileURLToPath(entry)} is missing). Run \`npm run build\` (or \`npm start\`) at the repository root, then try again.\n`,
  );
  process.exit(1);
}
await import(entry.href);
