/** The command line of `availsync-setup`: flags to SetupOptions, exit codes. */
import * as p from '@clack/prompts';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { CLIENTS, type ClientName, type Scope, TRANSPORTS, type Transport } from './entries.js';
import { Cancelled, DEFAULT_API_URL, SETUP_VERSION, type SetupIo, setup } from './setup.js';

function parseClients(value: string): ClientName[] {
  const list = value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const c of list) {
    if (!(CLIENTS as readonly string[]).includes(c)) throw new InvalidArgumentError(`unknown client "${c}" (use ${CLIENTS.join(',')})`);
  }
  return [...new Set(list)] as ClientName[];
}

function parseTransport(value: string): Transport {
  if (!(TRANSPORTS as readonly string[]).includes(value)) throw new InvalidArgumentError(`use ${TRANSPORTS.join(' or ')}`);
  return value as Transport;
}

function parseScope(value: string): Scope {
  if (value !== 'repo' && value !== 'files') throw new InvalidArgumentError('use repo or files');
  return value;
}

export async function main(argv: string[], io: SetupIo): Promise<number> {
  let code = 0;
  const program = new Command('availsync-setup')
    .description('Connect Claude Code, Codex, Cursor and Windsurf to Availsync (MCP), after checking the agent key.')
    .version(SETUP_VERSION)
    .option('--api-key <key>', 'the agent API key (default: AVAILSYNC_API_KEY)')
    .option('--agent-id <id>', "the agent's id (checked against the key; default: the key's agent)")
    .option('--url <url>', `the Availsync server (default: AVAILSYNC_API_URL, else ${DEFAULT_API_URL})`)
    .option('--clients <list>', `comma-separated: ${CLIENTS.join(',')} (default: the detected ones)`, parseClients)
    .option('--project', "Cursor: write the project's .cursor/mcp.json instead of ~/.cursor/mcp.json", false)
    .option('--claude-hook', 'install the Claude Code enforcement hook in ./.claude/settings.json')
    .option('-y, --yes', 'do not ask anything', false)
    .option('--dry-run', 'show the changes as a diff and write nothing', false)
    .option('--local', "start this clone's built MCP server and CLI (by absolute path) instead of the published packages", false)
    .option(
      '--transport <http|stdio>',
      "http: the server's /mcp and hook routes (default); stdio: start the MCP server and CLI (default with --local)",
      parseTransport,
    )
    .option('--codex-hook', "install Codex's hooks in ./.codex/hooks.json (availsync hook codex)")
    .option('--cursor-hook', "install Cursor's hooks in ./.cursor/hooks.json (availsync hook cursor)")
    .option('--resource <resource>', "the resource the hooks claim on (default: repo:owner/name from the project's origin)")
    .option('--scope <repo|files>', 'hooks: one session per repository (repo, default) or conflicts per file (files)', parseScope)
    .option('--fail-closed', 'hooks: block edits when the server cannot be reached (default in enforce mode; fixed at setup time)')
    .option('--fail-open', 'hooks: let edits through when the server cannot be reached (default in observe mode; fixed at setup time)')
    .option('--show-key', "print Claude Code's command with the key itself instead of $AVAILSYNC_API_KEY")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .action(async (o) => {
      if (o.failClosed && o.failOpen) {
        io.stderr.write('availsync-setup: error: --fail-closed and --fail-open contradict each other: pass one.\n');
        code = 2;
        return;
      }
      code = await setup(
        {
          apiKey: o.apiKey,
          agentId: o.agentId,
          url: o.url,
          clients: o.clients,
          project: o.project,
          yes: o.yes,
          dryRun: o.dryRun,
          claudeHook: o.claudeHook,
          local: o.local,
          transport: o.transport,
          codexHook: o.codexHook,
          cursorHook: o.cursorHook,
          resource: o.resource,
          scope: o.scope,
          failClosed: o.failClosed ? true : o.failOpen ? false : undefined,
          showKey: o.showKey,
        },
        io,
      );
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof Cancelled) {
      p.cancel('Cancelled: nothing more was written.');
      return 130;
    }
    throw err;
  }
  return code;
}
