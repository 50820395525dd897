import { api, qs } from '../api';
import type { AuditEvent, Claim, Page, ValueHealthResponse } from '../types';
import { Badge, BarChart, Card, Empty, ErrorBox, fmtAgo, useLoad } from '../ui';

const DAYS = 14;
const DAY_MS = 86_400_000;

async function allEvents(event: string, from: string): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for (let offset = 0; offset < 2000; offset += 100) {
    const page = await api<Page<AuditEvent>>('GET', `/v1/audit${qs({ event, from, limit: 100, offset })}`);
    out.push(...page.data);
    if (!page.pagination.has_more) break;
  }
  return out;
}

function dayKey(t: number) {
  return new Date(t).toISOString().slice(0, 10);
}

async function loadOverview() {
  const start = new Date(Date.now() - (DAYS - 1) * DAY_MS);
  start.setUTCHours(0, 0, 0, 0);
  const from = start.toISOString();
  const [value, started, skipped, active] = await Promise.all([
    api<ValueHealthResponse>('GET', '/v1/value/health'),
    allEvents('claim.started', from),
    allEvents('claim.skipped', from),
    api<Page<Claim>>('GET', `/v1/work/claims${qs({ status: 'active', limit: 100 })}`),
  ]);
  const days = Array.from({ length: DAYS }, (_, i) => dayKey(start.getTime() + i * DAY_MS));
  const count = (events: AuditEvent[]) => {
    const m = new Map<string, number>();
    for (const e of events) m.set(dayKey(new Date(e.created_at).getTime()), (m.get(dayKey(new Date(e.created_at).getTime())) ?? 0) + 1);
    return days.map((d) => m.get(d) ?? 0);
  };
  const byResource = new Map<string, number>();
  for (const c of active.data) byResource.set(c.resource, (byResource.get(c.resource) ?? 0) + 1);
  return { value, days, started: count(started), skipped: count(skipped), activeByResource: [...byResource.entries()] };
}

const HEALTH_TONE = { healthy: 'ok', idle: 'warn', stale: 'bad', never_seen: 'muted' } as const;

export function OverviewPage() {
  const { data, error } = useLoad(loadOverview, [], 15_000);
  if (!data) return error ? <ErrorBox error={error} /> : <div className="placeholder">Loading…</div>;
  const v = data.value;
  const stats: [string, number | string, string][] = [
    ['Conflicts prevented', v.conflicts_prevented, 'Runs skipped plus working-set conflicts'],
    ['Runs skipped', v.runs_skipped, 'Enforce-mode starts told to wait'],
    ['Would have blocked', v.would_have_blocked, 'Observe-mode starts enforce mode would have skipped'],
    ['Active claims', v.active_claims, 'Leases held right now'],
    ['Claims started (7 days)', v.claims_started_7d, ''],
    ['Tokens reported', v.tokens_reported.toLocaleString(), v.cost_reported_usd ? `$${v.cost_reported_usd.toFixed(2)}` : ''],
  ];
  const labels = data.days.map((d) => d.slice(5));
  return (
    <>
      <ErrorBox error={error} />
      {v.agents.length === 0 ? (
        <Empty title="No agents yet">
          Next step: <a href="#/agents">create an agent</a>, copy its key into Claude Code, Codex, Cursor or the SDK, and its runs will show
          up here.
        </Empty>
      ) : null}
      <div className="stats" data-testid="value-summary">
        {stats.map(([label, n, hint]) => (
          <div className="stat" key={label} title={hint}>
            <span className="stat-n">{n}</span>
            <span className="stat-l">{label}</span>
          </div>
        ))}
      </div>
      <div className="grid2">
        <Card title={`Claims started and skipped per day (last ${DAYS} days, UTC)`}>
          <BarChart
            title="Claims started and skipped per day"
            labels={labels}
            series={[
              { name: 'started', values: data.started, color: 'var(--accent)' },
              { name: 'skipped', values: data.skipped, color: 'var(--warn)' },
            ]}
          />
        </Card>
        <Card title="Active claims now, by resource">
          {data.activeByResource.length === 0 ? (
            <Empty title="Nothing is claimed right now">Active leases appear here as agents start runs.</Empty>
          ) : (
            <ul className="hbars">
              {data.activeByResource.map(([resource, n]) => (
                <li key={resource}>
                  <span className="hb-label">{resource}</span>
                  <span className="hb-bar" style={{ width: `${(n / Math.max(...data.activeByResource.map((x) => x[1]))) * 100}%` }} />
                  <span className="hb-n">{n}</span>
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
      <div className="grid2">
        <Card title="Agent health">
          {v.agents.length === 0 ? (
            <Empty title="No agents">Create one on the Agents page.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>Agent</th>
                  <th>Health</th>
                  <th>Last seen</th>
                  <th>Online</th>
                </tr>
              </thead>
              <tbody>
                {v.agents.map((a) => (
                  <tr key={a.id}>
                    <td>{a.name}</td>
                    <td>
                      <Badge tone={HEALTH_TONE[a.health]}>{a.health.replace('_', ' ')}</Badge>
                    </td>
                    <td>{fmtAgo(a.last_seen_at)}</td>
                    <td>{a.online ? <Badge tone="ok">online</Badge> : <Badge tone="muted">offline</Badge>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
        <Card title="Hotspots">
          {v.hotspots.length === 0 ? (
            <Empty title="No conflicts yet">Resources and paths agents collided on will be listed here.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>Resource</th>
                  <th>Path</th>
                  <th>Conflicts</th>
                </tr>
              </thead>
              <tbody>
                {v.hotspots.map((h) => (
                  <tr key={`${h.resource}|${h.path ?? ''}`}>
                    <td>{h.resource}</td>
                    <td>{h.path ?? '—'}</td>
                    <td>{h.conflicts}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
      </div>
    </>
  );
}
