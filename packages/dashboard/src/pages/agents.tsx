import { type FormEvent, useState } from 'react';
import { api, describeError } from '../api';
import { useSession } from '../session';
import type { Agent, Page, SetupTestResponse, TestConnectionResponse, ValueHealthResponse } from '../types';
import { Badge, Card, CopyButton, Empty, ErrorBox, fmtAgo, useLoad } from '../ui';

const TYPES = ['generic', 'coding', 'mcp', 'scheduler', 'automation'] as const;
const MODES = ['inherit', 'enforce', 'observe'] as const;

/**
 * What setup writes by default (packages/setup): the server's remote MCP endpoint and Claude Code's http
 * hooks, so nothing but the client is needed on the agent's machine. Files meant to be committed name
 * $AVAILSYNC_API_KEY; the key itself goes only into user-level config.
 */
function snippets(agent: Agent, key: string, url: string): [name: string, text: string, caption?: string][] {
  const mcp = `${url}/mcp`;
  const enforce = agent.effective_mode === 'enforce';
  const bearer = `Bearer ${key}`;
  const hook = (failClosed: boolean) => ({
    type: 'http',
    url: `${url}/v1/hooks/claude-code`,
    headers: {
      Authorization: 'Bearer $AVAILSYNC_API_KEY',
      'X-Availsync-Resource': 'repo:owner/name',
      'X-Availsync-Project-Dir': '$CLAUDE_PROJECT_DIR',
      'X-Availsync-Scope': 'repo',
    },
    allowedEnvVars: ['AVAILSYNC_API_KEY', 'CLAUDE_PROJECT_DIR'],
    timeout: 15,
    ...(failClosed ? { onFailure: 'block' } : {}),
  });
  const matcher = 'Edit|Write|MultiEdit|NotebookEdit';
  const hooks = {
    hooks: {
      SessionStart: [{ hooks: [hook(false)] }],
      PreToolUse: [{ matcher, hooks: [hook(enforce)] }],
      PostToolUse: [{ matcher, hooks: [hook(false)] }],
      SessionEnd: [{ hooks: [hook(false)] }],
    },
  };
  const policy =
    `Failure policy: ${enforce ? 'fails closed (onFailure: "block": edits are blocked while the server cannot be reached)' : 'fails open (edits go ahead while the server cannot be reached)'}, ` +
    `because the agent is in ${agent.effective_mode} mode now. It follows the mode when the snippet is copied or setup is run: ` +
    'after switching the agent or its workspace between observe and enforce, copy it again or re-run setup (--fail-closed / --fail-open override it).';
  const json = (entry: object) => JSON.stringify({ mcpServers: { availsync: entry } }, null, 2);
  return [
    ['Claude Code', `claude mcp add --transport http availsync ${mcp} \\\n  --header "Authorization: ${bearer}" --scope user`],
    [
      'Claude Code hook',
      `// .claude/settings.json (commit it: no key here); the key goes in .claude/settings.local.json "env"\n${JSON.stringify(hooks, null, 2)}`,
      policy,
    ],
    ['Cursor', `// ~/.cursor/mcp.json\n${json({ url: mcp, headers: { Authorization: bearer } })}`],
    ['Windsurf', `// ~/.codeium/windsurf/mcp_config.json\n${json({ serverUrl: mcp, headers: { Authorization: bearer } })}`],
    [
      'Codex',
      `# ~/.codex/config.toml (Codex reads the key from AVAILSYNC_API_KEY: export AVAILSYNC_API_KEY=${key})\n[mcp_servers.availsync]\nurl = "${mcp}"\nbearer_token_env_var = "AVAILSYNC_API_KEY"`,
    ],
    [
      'Node SDK',
      `// npm install @availsync/node (once published; from a clone: npm run pack)\nimport { createAvailsyncClient } from '@availsync/node';\n\nconst availsync = createAvailsyncClient({\n  apiKey: process.env.AVAILSYNC_API_KEY, // ${key.startsWith('avs_') ? 'the key above' : key}\n  agentId: '${agent.id}',\n  baseUrl: '${url}',\n});\n\nconst run = await availsync.work.withClaim('repo:owner/name', { durationMinutes: 30 }, async ({ claim }) => {\n  // your work, under the lease\n});\nif (run.action === 'skip_run') console.log('skipped:', run.reason);`,
    ],
    [
      'Setup CLI',
      `# from a clone of Availsync (npx @availsync/setup once published)\nnpx availsync-setup --api-key ${key} --agent-id ${agent.id} --url ${url} --claude-hook`,
    ],
  ];
}

function Snippets({ agent, apiKey }: { agent: Agent; apiKey: string | undefined }) {
  const list = snippets(agent, apiKey ?? '<your avs_live_ key>', window.location.origin);
  const [tab, setTab] = useState(0);
  const [name, text, caption] = list[tab] ?? list[0]!;
  return (
    <div className="snippets">
      <div className="tabs" role="tablist" aria-label="Configuration for">
        {list.map(([n], i) => (
          <button
            key={n}
            type="button"
            role="tab"
            aria-selected={i === tab}
            className={i === tab ? 'tab on' : 'tab'}
            onClick={() => setTab(i)}
          >
            {n}
          </button>
        ))}
      </div>
      <div className="snippet">
        <pre title={`${name} configuration`} data-testid="snippet">
          {text}
        </pre>
        <CopyButton text={text} label={`Copy ${name}`} />
      </div>
      {caption && (
        <p className="muted snippet-caption" data-testid="snippet-caption">
          {caption}
        </p>
      )}
    </div>
  );
}

function KeyPanel({ agent, apiKey, onDone, rotated }: { agent: Agent; apiKey: string; onDone: () => void; rotated: boolean }) {
  return (
    <section className="keypanel" aria-label="New API key">
      <strong>
        {rotated ? 'New key' : 'API key'} for {agent.name}
      </strong>
      <p className="warn-text">
        Copy this key now. It is shown only once and cannot be recovered; if you lose it, rotate the key.
        {rotated ? ' The previous key has stopped working.' : ''}
      </p>
      <div className="keyrow">
        <code data-testid="api-key">{apiKey}</code>
        <CopyButton text={apiKey} label="Copy key" />
      </div>
      <Snippets agent={agent} apiKey={apiKey} />
      <button type="button" className="btn small" onClick={onDone}>
        I have stored the key
      </button>
    </section>
  );
}

function AgentDetail({ agent, onChanged }: { agent: Agent; onChanged: (key?: { apiKey: string; rotated: boolean }) => void }) {
  const { orgPath, can } = useSession();
  const admin = can('admin');
  const base = `${orgPath}/agents/${agent.id}`;
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState<string>();
  const [conn, setConn] = useState<TestConnectionResponse>();
  const [setup, setSetup] = useState<SetupTestResponse>();
  const [confirm, setConfirm] = useState<'rotate' | 'delete'>();
  const act = async (name: string, fn: () => Promise<void>) => {
    setBusy(name);
    setError(undefined);
    try {
      await fn();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(undefined);
    }
  };
  const save = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    void act('save', async () => {
      await api('PATCH', base, { mode: f.get('mode'), priority: Number(f.get('priority')) });
      onChanged();
    });
  };
  return (
    <div className="detail">
      <ErrorBox error={error} />
      {admin ? null : <p className="muted">Only an admin or owner changes, rotates or deletes an agent.</p>}
      {admin ? (
        <form className="row wrap" onSubmit={save} aria-label={`Settings of ${agent.name}`}>
          <label>
            Mode
            <select name="mode" defaultValue={agent.mode}>
              {MODES.map((m) => (
                <option key={m} value={m}>
                  {m === 'inherit' ? `inherit (workspace: ${agent.effective_mode})` : m}
                </option>
              ))}
            </select>
          </label>
          <label>
            Priority
            <input name="priority" type="number" min={0} max={1000} defaultValue={agent.priority} />
          </label>
          <button type="submit" className="btn" disabled={busy !== undefined}>
            {busy === 'save' ? 'Saving…' : 'Save'}
          </button>
        </form>
      ) : null}
      <div className="row wrap">
        <button
          type="button"
          className="btn"
          disabled={busy !== undefined}
          onClick={() => void act('conn', async () => setConn(await api<TestConnectionResponse>('POST', `${base}/test-connection`)))}
        >
          {busy === 'conn' ? 'Testing…' : 'Test connection'}
        </button>
        {admin ? (
          <button
            type="button"
            className="btn"
            disabled={busy !== undefined}
            onClick={() => void act('setup', async () => setSetup(await api<SetupTestResponse>('POST', `${base}/setup-test`)))}
          >
            {busy === 'setup' ? 'Running…' : 'Run setup test'}
          </button>
        ) : null}
        {!admin ? null : confirm ? (
          <span className="confirm">
            {confirm === 'rotate' ? 'Rotate? The current key stops working at once.' : `Delete ${agent.name}? Its claims are released.`}
            <button
              type="button"
              className="btn danger small"
              onClick={() =>
                void act(confirm, async () => {
                  setConfirm(undefined);
                  if (confirm === 'rotate') {
                    const r = await api<{ agent: Agent; api_key: string }>('POST', `${base}/rotate-key`);
                    onChanged({ apiKey: r.api_key, rotated: true });
                  } else {
                    await api('DELETE', base);
                    onChanged();
                  }
                })
              }
            >
              Yes, {confirm}
            </button>
            <button type="button" className="btn small" onClick={() => setConfirm(undefined)}>
              Cancel
            </button>
          </span>
        ) : (
          <>
            <button type="button" className="btn" onClick={() => setConfirm('rotate')}>
              Rotate key
            </button>
            <button type="button" className="btn danger" onClick={() => setConfirm('delete')}>
              Delete
            </button>
          </>
        )}
      </div>
      {conn ? (
        <section className="checks" aria-label="Connection checks">
          <strong>{conn.ready ? 'Ready' : 'Not ready yet'}</strong>
          <ul>
            {conn.checks.map((c) => (
              <li key={c.name}>
                <Badge tone={c.ok ? 'ok' : 'bad'}>{c.ok ? 'ok' : 'fail'}</Badge> <b>{c.name.replaceAll('_', ' ')}</b> — {c.message}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {setup ? (
        <section className="checks" aria-label="Setup test steps">
          <strong>
            Setup test on {setup.resource}: {setup.ok ? 'passed' : 'failed'}
          </strong>
          <ol>
            {setup.steps.map((s) => (
              <li key={s.name}>
                <Badge tone={s.ok ? 'ok' : 'bad'}>{s.ok ? 'ok' : 'fail'}</Badge> <b>{s.name.replace('_', '-')}</b>
                {s.status_code !== null ? ` (${s.status_code}${s.action ? `, ${s.action}` : ''})` : ''} — {s.message}
              </li>
            ))}
          </ol>
        </section>
      ) : null}
      <h3>Connect this agent</h3>
      <Snippets agent={agent} apiKey={undefined} />
    </div>
  );
}

export function AgentsPage() {
  const { orgPath, can } = useSession();
  const agents = useLoad(
    async () => {
      const [list, value] = await Promise.all([
        api<Page<Agent>>('GET', `${orgPath}/agents?limit=100`),
        api<ValueHealthResponse>('GET', '/v1/value/health'),
      ]);
      return { list: list.data, health: new Map(value.agents.map((a) => [a.id, a.health])) };
    },
    [orgPath],
    20_000,
  );
  const [newKey, setNewKey] = useState<{ agent: Agent; apiKey: string; rotated: boolean }>();
  const [open, setOpen] = useState<string>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const create = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    setBusy(true);
    setError(undefined);
    try {
      const r = await api<{ agent: Agent; api_key: string }>('POST', `${orgPath}/agents`, {
        name: f.get('name'),
        agent_type: f.get('agent_type'),
        priority: Number(f.get('priority')),
        mode: f.get('mode'),
      });
      setNewKey({ agent: r.agent, apiKey: r.api_key, rotated: false });
      form.reset();
      await agents.reload();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const list = agents.data?.list;
  return (
    <>
      <Card title="Create an agent">
        <ErrorBox error={error} />
        {can('admin') ? (
          <form className="row wrap" onSubmit={create} aria-label="Create an agent">
            <label>
              Name
              <input name="name" required maxLength={100} placeholder="e.g. claude-code-laptop" />
            </label>
            <label>
              Type
              <select name="agent_type" defaultValue="coding">
                {TYPES.map((t) => (
                  <option key={t}>{t}</option>
                ))}
              </select>
            </label>
            <label>
              Priority
              <input name="priority" type="number" min={0} max={1000} defaultValue={100} />
            </label>
            <label>
              Mode
              <select name="mode" defaultValue="inherit">
                {MODES.map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>
            </label>
            <button className="btn primary" type="submit" disabled={busy}>
              {busy ? 'Creating…' : 'Create agent'}
            </button>
          </form>
        ) : (
          <p className="muted">Your role can see the agents; an admin or owner creates them and their keys.</p>
        )}
      </Card>
      {newKey ? (
        <KeyPanel agent={newKey.agent} apiKey={newKey.apiKey} rotated={newKey.rotated} onDone={() => setNewKey(undefined)} />
      ) : null}
      <Card title="Agents">
        <ErrorBox error={agents.error} />
        {!list ? (
          <div className="placeholder">Loading…</div>
        ) : list.length === 0 ? (
          <Empty title="No agents yet">Create one above: each coding agent, cron job or automation gets its own agent and key.</Empty>
        ) : (
          <table className="agents">
            <thead>
              <tr>
                <th>Name</th>
                <th>Type</th>
                <th>Mode</th>
                <th>Priority</th>
                <th>Health</th>
                <th>Last seen</th>
                <th>Key</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.map((a) => (
                <AgentRow
                  key={a.id}
                  agent={a}
                  health={agents.data?.health.get(a.id)}
                  open={open === a.id}
                  onToggle={() => setOpen(open === a.id ? undefined : a.id)}
                  onChanged={(key) => {
                    if (key) setNewKey({ agent: a, ...key });
                    void agents.reload();
                  }}
                />
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </>
  );
}

function AgentRow({
  agent: a,
  health,
  open,
  onToggle,
  onChanged,
}: {
  agent: Agent;
  health: string | undefined;
  open: boolean;
  onToggle: () => void;
  onChanged: (key?: { apiKey: string; rotated: boolean }) => void;
}) {
  const tone = health === 'healthy' ? 'ok' : health === 'idle' ? 'warn' : health === 'stale' ? 'bad' : 'muted';
  return (
    <>
      <tr data-agent={a.name}>
        <td>
          <b>{a.name}</b>
          <div className="muted mono">{a.id}</div>
        </td>
        <td>{a.agent_type}</td>
        <td>
          {a.mode}
          {a.mode === 'inherit' ? <span className="muted"> ({a.effective_mode})</span> : null}
        </td>
        <td>{a.priority}</td>
        <td>
          <Badge tone={tone}>{(health ?? 'never_seen').replace('_', ' ')}</Badge> {a.online ? <Badge tone="ok">online</Badge> : null}
        </td>
        <td>{fmtAgo(a.last_seen_at)}</td>
        <td className="mono">{a.key_prefix ? `${a.key_prefix}…` : '—'}</td>
        <td>
          <button type="button" className="btn small" aria-expanded={open} onClick={onToggle}>
            {open ? 'Close' : 'Manage'}
          </button>
        </td>
      </tr>
      {open ? (
        <tr className="detail-row">
          <td colSpan={8}>
            <AgentDetail agent={a} onChanged={onChanged} />
          </td>
        </tr>
      ) : null}
    </>
  );
}
