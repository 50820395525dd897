import { type FormEvent, useState } from 'react';
import { api, describeError, qs } from '../api';
import { useSession } from '../session';
import type { Hold, Page } from '../types';
import { Card, Empty, ErrorBox, fmtTime, Timeline, useLoad, useNow } from '../ui';
import { useAgentNames } from './claims';

const HOUR = 3_600_000;

function localInput(t: number) {
  const d = new Date(t - new Date(t).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

export function HoldsPage() {
  const canManage = useSession().can('member');
  const names = useAgentNames();
  const now = useNow(30_000);
  const holds = useLoad(() => api<Page<Hold>>('GET', `/v1/holds${qs({ status: 'active', limit: 100 })}`), [], 15_000);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const from = now - 6 * HOUR;
  const to = now + 7 * 24 * HOUR;
  const byResource = new Map<string, Hold[]>();
  for (const h of holds.data?.data ?? []) byResource.set(h.resource, [...(byResource.get(h.resource) ?? []), h]);

  const create = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    setBusy(true);
    setError(undefined);
    try {
      const start = new Date(String(f.get('start_at')));
      const end = new Date(String(f.get('end_at')));
      if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) throw new Error('Give a start and an end time.');
      await api('POST', '/v1/holds', {
        agent_id: f.get('agent_id'),
        resource: f.get('resource'),
        start_at: start.toISOString(),
        end_at: end.toISOString(),
        ...(f.get('reason') ? { reason: f.get('reason') } : {}),
      });
      await holds.reload();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const release = async (id: string) => {
    setError(undefined);
    try {
      await api('DELETE', `/v1/holds/${id}`);
      await holds.reload();
    } catch (err) {
      setError(describeError(err));
    }
  };
  const agents = [...names.entries()];
  return (
    <>
      <Card title="Reserve a time window">
        <ErrorBox error={error} />
        {!canManage ? (
          <p className="muted">Viewers see the holds; a member, admin or owner reserves and releases them.</p>
        ) : agents.length === 0 ? (
          <Empty title="Holds are made for an agent">
            <a href="#/agents">Create an agent</a> first; the hold is recorded as that agent&apos;s.
          </Empty>
        ) : (
          <form className="row wrap" onSubmit={create} aria-label="Create a hold">
            <label>
              Resource
              <input name="resource" required placeholder="release:prod" />
            </label>
            <label>
              For agent
              <select name="agent_id">
                {agents.map(([id, name]) => (
                  <option key={id} value={id}>
                    {name}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Start
              <input name="start_at" type="datetime-local" required defaultValue={localInput(now + HOUR)} />
            </label>
            <label>
              End
              <input name="end_at" type="datetime-local" required defaultValue={localInput(now + 2 * HOUR)} />
            </label>
            <label>
              Reason
              <input name="reason" maxLength={500} placeholder="optional" />
            </label>
            <button type="submit" className="btn primary" disabled={busy}>
              {busy ? 'Creating…' : 'Create hold'}
            </button>
          </form>
        )}
      </Card>
      <Card title="Next 7 days">
        <ErrorBox error={holds.error} />
        {!holds.data ? (
          <div className="placeholder">Loading…</div>
        ) : byResource.size === 0 ? (
          <Empty title="No active holds">
            Reserve a release slot, a maintenance window or a meeting above, or from an agent with POST /v1/holds.
          </Empty>
        ) : (
          <Timeline
            label="Active holds per resource"
            from={from}
            to={to}
            now={now}
            lanes={[...byResource.entries()].map(([resource, list]) => ({
              name: resource,
              bars: list.map((h) => ({
                id: h.id,
                start: new Date(h.start_at).getTime(),
                end: new Date(h.end_at).getTime(),
                tone: h.expires_at ? 'tentative' : 'active',
                title: `${fmtTime(h.start_at)} → ${fmtTime(h.end_at)} · ${names.get(h.agent_id) ?? h.agent_id}${h.reason ? ` — ${h.reason}` : ''}`,
              })),
            }))}
          />
        )}
      </Card>
      <Card title="Active holds">
        {holds.data && holds.data.data.length > 0 ? (
          <table>
            <thead>
              <tr>
                <th>Resource</th>
                <th>Window</th>
                <th>Agent</th>
                <th>Reason</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {holds.data.data.map((h) => (
                <tr key={h.id}>
                  <td>{h.resource}</td>
                  <td>
                    {fmtTime(h.start_at)} → {fmtTime(h.end_at)}
                    {h.expires_at ? <div className="muted">tentative until {fmtTime(h.expires_at)}</div> : null}
                  </td>
                  <td>{names.get(h.agent_id) ?? h.agent_id}</td>
                  <td>{h.reason ?? '—'}</td>
                  <td>
                    {canManage ? (
                      <button type="button" className="btn small" onClick={() => void release(h.id)}>
                        Release
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <div className="placeholder">Nothing reserved.</div>
        )}
      </Card>
    </>
  );
}
