/**
 * Setup and the file system: where each client keeps its config, which clients this machine has, a clone
 * of the repository to start programs from, and the atomic, backed-up write of a config file.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve, sep } from 'node:path';
import { type ClientName, type Launchers, shellQuote } from './entries.js';

/**
 * When setup runs from a clone of the repository (`selfDir` is its own `dist`, beside the other packages and
 * not inside a node_modules), the clone's built MCP server and CLI, started by absolute path with the Node
 * that runs setup: they work without the npm registry, for as long as the clone stays where it is. Null
 * elsewhere (npx, a global install). `built` says whether both programs have been built yet.
 */
export function cloneLaunchers(
  selfDir: string,
  node = process.execPath,
  platform: NodeJS.Platform = process.platform,
): { launchers: Launchers; root: string; built: boolean } | null {
  const root = resolve(selfDir, '..', '..', '..');
  if (resolve(selfDir).split(sep).includes('node_modules')) return null;
  const pkg = (name: string) => join(root, 'packages', name, 'package.json');
  const named = (name: string) => {
    try {
      return (JSON.parse(readFileSync(pkg(name), 'utf8')) as { name?: unknown }).name === `@availsync/${name}`;
    } catch {
      return false;
    }
  };
  if (!named('setup') || !named('mcp') || !named('cli')) return null;
  const mcpBin = join(root, 'packages', 'mcp', 'dist', 'bin.js');
  const cliBin = join(root, 'packages', 'cli', 'dist', 'bin.js');
  return {
    root,
    built: existsSync(mcpBin) && existsSync(cliBin),
    launchers: { mcp: { command: node, args: [mcpBin] }, cli: [node, cliBin].map((w) => shellQuote(w, platform)).join(' ') },
  };
}

export function configPath(client: Exclude<ClientName, 'claude'>, home: string, cwd: string, project: boolean): string {
  if (client === 'codex') return join(home, '.codex', 'config.toml');
  if (client === 'cursor') return project ? join(cwd, '.cursor', 'mcp.json') : join(home, '.cursor', 'mcp.json');
  return join(home, '.codeium', 'windsurf', 'mcp_config.json');
}

function onPath(cmd: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, cmd)));
}

/** Clients whose config directory exists in HOME (Claude Code: ~/.claude or `claude` on PATH). */
export function detectClients(home: string, env: NodeJS.ProcessEnv): ClientName[] {
  const found: ClientName[] = [];
  if (existsSync(join(home, '.claude')) || onPath('claude', env)) found.push('claude');
  if (existsSync(join(home, '.codex'))) found.push('codex');
  if (existsSync(join(home, '.cursor'))) found.push('cursor');
  if (existsSync(join(home, '.codeium', 'windsurf'))) found.push('windsurf');
  return found;
}

function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Back up (when the file exists), then write through a temp file and a rename. Returns the backup path. */
export function writeAtomic(file: string, text: string, now: Date): string | null {
  mkdirSync(dirname(file), { recursive: true });
  let backup: string | null = null;
  let mode = 0o600;
  if (existsSync(file)) {
    mode = statSync(file).mode & 0o777;
    backup = `${file}.bak-${stamp(now)}`;
    copyFileSync(file, backup);
  }
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
  return backup;
}
