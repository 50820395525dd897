/**
 * MCP tool calls (BENCH_ONLY=mcp): availsync_start_run + availsync_finish_run as a model's client makes them,
 * through the official SDK client, on one SQLite server process.
 *
 * - remote: Streamable HTTP to the server's /mcp (each call one POST, served through the REST routes
 *   in-process).
 * - stdio: the built availsync-mcp bin as a child process per client, calling the REST API over HTTP.
 *
 * Each client connects once (initialize is not measured); a flow is start + finish on a resource of its
 * own, and each tool call's latency is recorded.
 */
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { type RunResult, runClosedLoop } from './loadgen.js';
import { startNode, tempDataDir } from './servers.js';

const root = new URL('..', import.meta.url).pathname;
const BIN = join(root, 'packages/mcp/dist/bin.js');

type Kind = 'remote' | 'stdio';

function transportFor(kind: Kind, url: string, key: string): Transport {
  if (kind === 'remote') {
    return new StreamableHTTPClientTransport(new URL('/mcp', url), { requestInit: { headers: { Authorization: `Bearer ${key}` } } });
  }
  return new StdioClientTransport({
    command: process.execPath,
    args: [BIN],
    env: { PATH: process.env.PATH ?? '', AVAILSYNC_API_KEY: key, AVAILSYNC_API_URL: url },
    stderr: 'ignore',
  });
}

interface ToolResult {
  isError?: boolean;
  structuredContent?: { action?: string; claim?: { id: string } | null };
}

/** Rows of the MCP scenarios: `clients` of 1 and 8 for each transport. `setup` makes agents and returns their keys. */
export async function mcpToolCalls(opts: {
  seconds: number;
  warmup: number;
  setup: (url: string, n: number) => Promise<string[]>;
}): Promise<{ name: string; clients: number; run: RunResult }[]> {
  const data = tempDataDir();
  const node = await startNode({ AVAILSYNC_DATA_DIR: data.dir });
  const rows: { name: string; clients: number; run: RunResult }[] = [];
  try {
    const keys = await opts.setup(node.url, 8);
    for (const kind of ['remote', 'stdio'] as const) {
      for (const clients of [1, 8]) {
        const connected = await Promise.all(
          Array.from({ length: clients }, async (_, i) => {
            const client = new Client({ name: `bench-${kind}-${i}`, version: '1.0.0' });
            await client.connect(transportFor(kind, node.url, keys[i % keys.length] as string));
            return client;
          }),
        );
        let n = 0;
        const run = await runClosedLoop(
          clients,
          opts.seconds,
          async (i, timed) => {
            const client = connected[i] as Client;
            const resource = `repo:bench/mcp-${kind}-c${clients}-${i}-${n++ % 4096}`;
            const started = (await timed(() =>
              client.callTool({ name: 'availsync_start_run', arguments: { resource, duration_minutes: 5 } }),
            )) as ToolResult;
            const claim = started.structuredContent?.claim;
            if (started.isError || !claim) return started.isError ? 'error' : 'skip';
            const finished = (await timed(() =>
              client.callTool({ name: 'availsync_finish_run', arguments: { claim_id: claim.id } }),
            )) as ToolResult;
            return finished.isError ? 'error' : 'ok';
          },
          opts.warmup,
        );
        await Promise.all(connected.map((c) => c.close()));
        rows.push({ name: `sqlite mcp ${kind} start+finish (per call)`, clients, run });
      }
    }
  } finally {
    await node.stop();
    data.drop();
  }
  return rows;
}
