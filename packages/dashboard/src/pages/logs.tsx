import { type FormEvent, useState } from 'react';
import { api, qs } from '../api';
import { useSession } from '../session';
import type { Activity, AuditEvent, Page } from '../types';
import { Badge, Card, Empty, ErrorBox, fmtTime, Pager, useLoad } from '../ui';
import { useAgentNames } from './claims';

const LIMIT = 25;
type Filters = Record<string, string>;

function toIso(v: string, endOfDay: boolean): string | undefined {
  if (!v) return undefined;
  const d = new Date(`${v}T00:00:00`);
  if (endOfDay) d.setDate(d.getDate() + 1);
  return d.toISOString();
}

function FilterForm({ fields, onApply }: { fields: React.ReactNode; onApply: (f: Filters) => void }) {
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const out: Filters = {};
    for (const [k, v] of new FormData(e.currentTarget).entries()) if (typeof v === 'string' && v) out[k] = v;
    onApply(out);
  };
  return (
    <form className="row wrap filters" onSubmit={submit} aria-label="Filters">
      {fields}
      <label>
        From
        <input type="date" name="from" />
      </label>
      <label>
        To
        <input type="date" name="to" />
      </label>
      <button type="submit" className="btn">
        Apply
      </button>
      <button type="reset" className="btn ghost" onClick={() => onApply({})}>
        Clear
      </button>
    </form>
  );
}

function AgentSelect({ names }: { names: Map<string, string> }) {
  return (
    <label>
      Agent
      <select name="agent_id" defaultValue="">
        <option value="">all</option>
        {[...names.entries()].map(([id, name]) => (
          <option key={id} value={id}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}

export function ActivityPage() {
  const names = useAgentNames();
  const [filters, setFilters] = useState<Filters>({});
  const [offset, setOffset] = useState(0);
  const { data, error } = useLoad(
    () =>
      api<Page<Activity>>(
        'GET',
        `/v1/activity${qs({ ...filters, from: toIso(filters.from ?? '', false), to: toIso(filters.to ?? '', true), limit: LIMIT, offset })}`,
      ),
    [filters, offset],
    10_000,
  );
  return (
    <Card title="Agent API traffic">
      <FilterForm
        onApply={(f) => {
          setFilters(f);
          setOffset(0);
        }}
        fields={
          <>
            <AgentSelect names={names} />
            <label>
              Status
              <select name="status" defaultValue="">
                <option value="">all</option>
                <option value="ok">ok (&lt; 400)</option>
                <option value="error">error (≥ 400)</option>
                <option value="402">402 plan limit</option>
                <option value="409">409 conflict</option>
                <option value="401">401 unauthorized</option>
              </select>
            </label>
            <label>
              Type
              <select name="type" defaultValue="">
                <option value="">all</option>
                {['work', 'hold', 'usage', 'heartbeat', 'setup_test', 'other'].map((t) => (
                  <option key={t}>{t}</option>
                ))}
              </select>
            </label>
          </>
        }
      />
      <ErrorBox error={error} />
      {!data ? (
        <div className="placeholder">Loading…</div>
      ) : data.data.length === 0 ? (
        <Empty title="No activity matches">
          {Object.keys(filters).length > 0
            ? 'Clear the filters to see everything.'
            : 'Every request an agent makes with its key is listed here.'}
        </Empty>
      ) : (
        <>
          <div className="scroll">
            <table data-testid="activity">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Agent</th>
                  <th>Type</th>
                  <th>Request</th>
                  <th>Status</th>
                  <th>Action</th>
                  <th>Resource</th>
                  <th>ms</th>
                </tr>
              </thead>
              <tbody>
                {data.data.map((a) => (
                  <tr key={a.id}>
                    <td className="nowrap">{fmtTime(a.created_at)}</td>
                    <td>{names.get(a.agent_id) ?? a.agent_id}</td>
                    <td>{a.type}</td>
                    <td className="mono">
                      {a.method} {a.route}
                    </td>
                    <td>
                      <Badge tone={a.status_code < 400 ? 'ok' : a.status_code < 500 ? 'warn' : 'bad'}>{a.status_code}</Badge>
                    </td>
                    <td>{a.action ?? '—'}</td>
                    <td>{a.resource ?? '—'}</td>
                    <td className="tabular">{Math.round(a.latency_ms)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager offset={offset} limit={LIMIT} total={data.pagination.total} onChange={setOffset} />
        </>
      )}
    </Card>
  );
}

/**
 * An audit row's details in one line, agents by name: `agent_id: agt_…` reads `agent: claude-laptop`
 * (an id no agent of this workspace has any more, a deleted one, stays as it is).
 */
export function detailsText(d: Record<string, unknown>, names: Map<string, string>): string {
  const name = (v: unknown): unknown => (typeof v === 'string' ? (names.get(v) ?? v) : Array.isArray(v) ? v.map(name) : v);
  const parts = Object.entries(d).map(([k, raw]) => {
    const named = /agent_ids?$/.test(k) && JSON.stringify(name(raw)) !== JSON.stringify(raw);
    const key = named ? k.replace(/_id(s?)$/, '$1') : k;
    const v = name(raw);
    return `${key}: ${typeof v === 'string' ? v : Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.join(', ') : JSON.stringify(v)}`;
  });
  const s = parts.join(' · ');
  return s.length > 220 ? `${s.slice(0, 217)}…` : s;
}

export function AuditPage() {
  const names = useAgentNames();
  const [filters, setFilters] = useState<Filters>({});
  const [offset, setOffset] = useState(0);
  const { data, error } = useLoad(
    () =>
      api<Page<AuditEvent>>(
        'GET',
        `/v1/audit${qs({ ...filters, from: toIso(filters.from ?? '', false), to: toIso(filters.to ?? '', true), limit: LIMIT, offset })}`,
      ),
    [filters, offset],
    10_000,
  );
  const { session } = useSession();
  const actor = (e: AuditEvent) =>
    e.actor_type === 'agent'
      ? (names.get(e.actor_id ?? '') ?? e.actor_id)
      : e.actor_type === 'user'
        ? e.actor_id === session.user.id
          ? session.user.email
          : 'a user'
        : 'system';
  return (
    <Card title="Governance events">
      <FilterForm
        onApply={(f) => {
          setFilters(f);
          setOffset(0);
        }}
        fields={
          <>
            <AgentSelect names={names} />
            <label>
              Event
              <input name="event" placeholder="claim.* or rules.updated" pattern="[a-z_]+(\.[a-z_]+)*(\.\*)?" />
            </label>
            <label>
              Resource
              <input name="resource" placeholder="repo:owner/name" />
            </label>
          </>
        }
      />
      <ErrorBox error={error} />
      {!data ? (
        <div className="placeholder">Loading…</div>
      ) : data.data.length === 0 ? (
        <Empty title="No events match">
          {Object.keys(filters).length > 0 ? 'Clear the filters to see everything.' : 'Claims, agent and rule changes are recorded here.'}
        </Empty>
      ) : (
        <>
          <div className="scroll">
            <table data-testid="audit">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Event</th>
                  <th>Actor</th>
                  <th>Resource</th>
                  <th>Details</th>
                </tr>
              </thead>
              <tbody>
                {data.data.map((e) => (
                  <tr key={e.id}>
                    <td className="nowrap">{fmtTime(e.created_at)}</td>
                    <td>
                      <code>{e.event}</code>
                    </td>
                    <td>
                      <span className="muted small">{e.actor_type}</span> {actor(e)}
                    </td>
                    <td>{e.resource ?? '—'}</td>
                    <td className="mono small details">{detailsText(e.details, names)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager offset={offset} limit={LIMIT} total={data.pagination.total} onChange={setOffset} />
        </>
      )}
    </Card>
  );
}
