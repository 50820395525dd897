import { useState } from 'react';
import { api, describeError, qs } from '../api';
import { useSession } from '../session';
import type { Agent, Claim, Page, ProtectedResource } from '../types';
import { Badge, Card, Empty, ErrorBox, fmtLeft, fmtTime, Pager, Timeline, useLoad, useNow } from '../ui';

const STATUS_TONE = { active: 'ok', released: 'muted', expired: 'warn', preempted: 'bad' } as const;
const RECENT = 20;

function useAgentNames() {
  const { orgPath } = useSession();
  const { data } = useLoad(async () => (await api<Page<Agent>>('GET', `${orgPath}/agents?limit=100`)).data, [orgPath]);
  return new Map((data ?? []).map((a) => [a.id, a.name]));
}

function ActiveClaims({ names }: { names: Map<string, string> }) {
  const canRelease = useSession().can('member');
  const now = useNow(1000);
  const active = useLoad(() => api<Page<Claim>>('GET', `/v1/work/claims${qs({ status: 'active', limit: 100 })}`), [], 5000);
  const [error, setError] = useState<string>();
  const [confirm, setConfirm] = useState<string>();
  const release = async (id: string) => {
    setError(undefined);
    setConfirm(undefined);
    try {
      await api('DELETE', `/v1/work/claims/${id}`);
      await active.reload();
    } catch (err) {
      setError(describeError(err));
    }
  };
  const list = active.data?.data;
  return (
    <Card title="Active claims" actions={<span className="muted small">refreshes every 5 s</span>}>
      <ErrorBox error={error ?? active.error} />
      {!list ? (
        <div className="placeholder">Loading…</div>
      ) : list.length === 0 ? (
        <Empty title="No active claims">
          When an agent starts a run (<code>POST /v1/work/run/start</code>, the MCP tool or <code>availsync run</code>) its lease shows here
          with its time left.
        </Empty>
      ) : (
        <table data-testid="active-claims">
          <thead>
            <tr>
              <th>Resource</th>
              <th>Agent</th>
              <th>Reason</th>
              <th>Working set</th>
              <th>Time left</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.map((c) => (
              <tr key={c.id}>
                <td>
                  <b>{c.resource}</b>
                  <div className="muted mono">
                    {c.id} · token {c.fencing_token}
                  </div>
                </td>
                <td>{names.get(c.agent_id) ?? c.agent_id}</td>
                <td>{c.reason ?? '—'}</td>
                <td>
                  {c.working_set.length === 0 ? (
                    <span className="muted">none</span>
                  ) : (
                    <ul className="paths">
                      {c.working_set.map((f) => (
                        <li key={f.id}>
                          <Badge tone={f.mode === 'review' ? 'info' : 'warn'}>{f.mode}</Badge> <code>{f.path}</code>
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td className="nowrap tabular">{fmtLeft(c.expires_at, now)}</td>
                <td>
                  {!canRelease ? null : confirm === c.id ? (
                    <span className="confirm">
                      <button type="button" className="btn danger small" onClick={() => void release(c.id)}>
                        Yes, release
                      </button>
                      <button type="button" className="btn small" onClick={() => setConfirm(undefined)}>
                        Cancel
                      </button>
                    </span>
                  ) : (
                    <button type="button" className="btn small" onClick={() => setConfirm(c.id)}>
                      Release
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function RecentClaims({ names }: { names: Map<string, string> }) {
  const [offset, setOffset] = useState(0);
  const recent = useLoad(() => api<Page<Claim>>('GET', `/v1/work/claims${qs({ limit: RECENT, offset })}`), [offset], 10_000);
  const page = recent.data;
  return (
    <Card title="Recent claims">
      <ErrorBox error={recent.error} />
      {!page ? (
        <div className="placeholder">Loading…</div>
      ) : page.data.length === 0 ? (
        <Empty title="No claims yet">Create an agent on the Agents page and start a run with its key.</Empty>
      ) : (
        <>
          <table data-testid="recent-claims">
            <thead>
              <tr>
                <th>Resource</th>
                <th>Agent</th>
                <th>Status</th>
                <th>Outcome</th>
                <th>Started</th>
                <th>Ended</th>
              </tr>
            </thead>
            <tbody>
              {page.data.map((c) => (
                <tr key={c.id}>
                  <td>{c.resource}</td>
                  <td>{names.get(c.agent_id) ?? c.agent_id}</td>
                  <td>
                    <Badge tone={STATUS_TONE[c.status]}>{c.status}</Badge>
                  </td>
                  <td>{c.outcome ?? '—'}</td>
                  <td>{fmtTime(c.started_at)}</td>
                  <td>{fmtTime(c.released_at ?? (c.status === 'active' ? null : c.expires_at))}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager offset={offset} limit={RECENT} total={page.pagination.total} onChange={setOffset} />
        </>
      )}
    </Card>
  );
}

function ResourceTimeline({ names }: { names: Map<string, string> }) {
  const now = useNow(15_000);
  const resources = useLoad(() => api<Page<ProtectedResource>>('GET', '/v1/work/resources?limit=100'), []);
  const [picked, setPicked] = useState<string>();
  const resource = picked ?? resources.data?.data[0]?.resource;
  const claims = useLoad(
    async () => (resource ? (await api<Page<Claim>>('GET', `/v1/work/claims${qs({ resource, limit: 100 })}`)).data : []),
    [resource],
    15_000,
  );
  // The window ends at now: "the last 24 hours" has no future in it (an active lease runs on past the edge).
  const from = now - 24 * 3_600_000;
  const to = now;
  const byAgent = new Map<string, Claim[]>();
  for (const c of claims.data ?? []) byAgent.set(c.agent_id, [...(byAgent.get(c.agent_id) ?? []), c]);
  return (
    <Card
      title="Who held what, and when (last 24 hours)"
      actions={
        resources.data && resources.data.data.length > 0 ? (
          <label className="inline">
            Resource{' '}
            <select value={resource} onChange={(e) => setPicked(e.target.value)}>
              {resources.data.data.map((r) => (
                <option key={r.resource}>{r.resource}</option>
              ))}
            </select>
          </label>
        ) : null
      }
    >
      <ErrorBox error={resources.error ?? claims.error} />
      {resources.data && resources.data.data.length === 0 ? (
        <Empty title="No protected resources yet">A resource is protected the first time an agent claims it.</Empty>
      ) : byAgent.size === 0 ? (
        <div className="placeholder">No claims on this resource yet.</div>
      ) : (
        <Timeline
          label={`Claims on ${resource}`}
          from={from}
          to={to}
          now={now}
          lanes={[...byAgent.entries()].map(([agentId, list]) => ({
            name: names.get(agentId) ?? agentId,
            bars: list.map((c) => {
              const end = Math.min(
                new Date(c.expires_at).getTime(),
                c.released_at ? new Date(c.released_at).getTime() : Number.POSITIVE_INFINITY,
              );
              return {
                id: c.id,
                start: new Date(c.started_at).getTime(),
                end,
                tone: c.status,
                title: `${c.status}${c.outcome ? ` (${c.outcome})` : ''}: ${fmtTime(c.started_at)} → ${fmtTime(new Date(end).toISOString())}${c.reason ? ` — ${c.reason}` : ''}`,
              };
            }),
          }))}
        />
      )}
    </Card>
  );
}

/** Starts waiting in a resource's queue (wait_seconds), in the order they will be granted. */
function Queues({ names }: { names: Map<string, string> }) {
  const resources = useLoad(() => api<Page<ProtectedResource>>('GET', '/v1/work/resources?limit=100'), [], 5_000);
  const queued = (resources.data?.data ?? []).filter((r) => r.queue_count > 0);
  if (queued.length === 0 && !resources.error) return null;
  return (
    <Card title="Waiting in the queue">
      <ErrorBox error={resources.error} />
      <table data-testid="queues">
        <thead>
          <tr>
            <th>Resource</th>
            <th>#</th>
            <th>Agent</th>
            <th>Priority</th>
            <th>Waiting since</th>
          </tr>
        </thead>
        <tbody>
          {queued.flatMap((r) =>
            r.queue.map((q, i) => (
              <tr key={`${r.resource}-${q.agent_id}-${q.since}`}>
                <td>{i === 0 ? `${r.resource}${r.queue_truncated ? ` (${r.queue_count} waiting)` : ''}` : ''}</td>
                <td>{i + 1}</td>
                <td>{names.get(q.agent_id) ?? q.agent_id}</td>
                <td>{q.priority}</td>
                <td>{fmtTime(q.since)}</td>
              </tr>
            )),
          )}
        </tbody>
      </table>
    </Card>
  );
}

export function ClaimsPage() {
  const names = useAgentNames();
  return (
    <>
      <ActiveClaims names={names} />
      <Queues names={names} />
      <ResourceTimeline names={names} />
      <RecentClaims names={names} />
    </>
  );
}

export { useAgentNames };
