import { type FormEvent, useState } from 'react';
import { api, describeError } from '../api';
import { useSession } from '../session';
import type { Page, Webhook, WebhookCreatedResponse, WebhookDelivery } from '../types';
import { Badge, Card, CopyButton, Empty, ErrorBox, fmtTime, useLoad } from '../ui';

/** The signing secret, shown once: the API never shows it again. */
function SecretPanel({ created, onDone }: { created: WebhookCreatedResponse; onDone: () => void }) {
  return (
    <section className="keypanel link-once" aria-label="Signing secret">
      <strong>Signing secret for {created.webhook.url}</strong>
      <p className="warn-text">
        Copy this secret now: it is shown only once. Your endpoint checks the Availsync-Signature header with it (see docs/webhooks.md).
      </p>
      <div className="keyrow">
        <code data-testid="webhook-secret">{created.secret}</code>
        <CopyButton text={created.secret} label="Copy secret" />
      </div>
      <button type="button" className="btn small" onClick={onDone}>
        Done
      </button>
    </section>
  );
}

function Deliveries({ hook }: { hook: Webhook }) {
  const { orgPath } = useSession();
  const log = useLoad(() => api<Page<WebhookDelivery>>('GET', `${orgPath}/webhooks/${hook.id}/deliveries?limit=50`), [orgPath, hook.id]);
  if (log.error) return <ErrorBox error={log.error} />;
  if (!log.data) return <div className="placeholder">Loading…</div>;
  if (log.data.data.length === 0) return <Empty title="No deliveries yet">Attempts appear here as events are sent.</Empty>;
  return (
    <table data-testid="webhook-deliveries">
      <thead>
        <tr>
          <th>When</th>
          <th>Event</th>
          <th>Attempt</th>
          <th>Result</th>
          <th>Time</th>
        </tr>
      </thead>
      <tbody>
        {log.data.data.map((d) => (
          <tr key={d.id}>
            <td>{fmtTime(d.created_at)}</td>
            <td>
              {d.event_type}
              {d.event_id !== null ? <span className="muted"> #{d.event_id}</span> : null}
            </td>
            <td>{d.attempt}</td>
            <td>
              <Badge tone={d.ok ? 'ok' : 'bad'}>{d.status ?? 'no answer'}</Badge>
              {d.error ? <span className="muted"> {d.error}</span> : null}
            </td>
            <td>{d.duration_ms} ms</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function WebhookRow({ hook, onChanged }: { hook: Webhook; onChanged: () => void }) {
  const { orgPath } = useSession();
  const [error, setError] = useState<string>();
  const [open, setOpen] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const [tested, setTested] = useState<string>();
  const act = async (fn: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await fn();
      onChanged();
    } catch (err) {
      setError(describeError(err));
    }
  };
  const test = () =>
    act(async () => {
      const r = await api<{ delivery: WebhookDelivery }>('POST', `${orgPath}/webhooks/${hook.id}/test`);
      setTested(r.delivery.ok ? `Test delivered (${r.delivery.status})` : `Test failed: ${r.delivery.error ?? r.delivery.status}`);
    });
  return (
    <>
      <tr data-webhook={hook.url}>
        <td>
          <b>{hook.url}</b>
          {hook.description ? <div className="muted">{hook.description}</div> : null}
          <ErrorBox error={error} />
          {tested ? <div className="muted">{tested}</div> : null}
        </td>
        <td>{hook.events.join(', ')}</td>
        <td>{hook.format}</td>
        <td>
          {hook.enabled ? (
            <Badge tone={hook.failing_since ? 'warn' : 'ok'}>
              {hook.failing_since ? `failing since ${fmtTime(hook.failing_since)}` : 'enabled'}
            </Badge>
          ) : (
            <Badge tone="bad">{hook.disabled_reason === 'failing' ? 'disabled: failing 3 days' : 'disabled'}</Badge>
          )}
        </td>
        <td className="actions">
          <button type="button" className="btn small" onClick={() => void test()}>
            Send test
          </button>
          <button
            type="button"
            className="btn small"
            onClick={() => void act(() => api('PATCH', `${orgPath}/webhooks/${hook.id}`, { enabled: !hook.enabled }))}
          >
            {hook.enabled ? 'Disable' : 'Enable'}
          </button>
          <button type="button" className="btn small" aria-expanded={open} onClick={() => setOpen(!open)}>
            {open ? 'Hide log' : 'Delivery log'}
          </button>
          {confirm ? (
            <span className="confirm">
              <button
                type="button"
                className="btn danger small"
                onClick={() => void act(() => api('DELETE', `${orgPath}/webhooks/${hook.id}`))}
              >
                Yes, delete
              </button>
              <button type="button" className="btn small" onClick={() => setConfirm(false)}>
                Cancel
              </button>
            </span>
          ) : (
            <button type="button" className="btn small" onClick={() => setConfirm(true)}>
              Delete
            </button>
          )}
        </td>
      </tr>
      {open ? (
        <tr>
          <td colSpan={5}>
            <Deliveries hook={hook} />
          </td>
        </tr>
      ) : null}
    </>
  );
}

export function WebhooksPage() {
  const { orgPath, session, can } = useSession();
  const admin = can('admin');
  const hooks = useLoad(async () => (admin ? api<Page<Webhook>>('GET', `${orgPath}/webhooks?limit=100`) : undefined), [orgPath, admin]);
  const [created, setCreated] = useState<WebhookCreatedResponse>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  if (!admin) {
    return <p className="muted">You are a {session.workspace.role} here. Admins and owners manage webhooks.</p>;
  }
  const create = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const events = String(f.get('events') ?? '*')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const description = String(f.get('description') ?? '').trim();
    setBusy(true);
    setError(undefined);
    try {
      setCreated(
        await api<WebhookCreatedResponse>('POST', `${orgPath}/webhooks`, {
          url: f.get('url'),
          events: events.length ? events : ['*'],
          format: f.get('format'),
          ...(description ? { description } : {}),
        }),
      );
      form.reset();
      await hooks.reload();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Card title="Add an endpoint">
        <ErrorBox error={error} />
        <form className="row wrap" onSubmit={create} aria-label="Add an endpoint">
          <label>
            URL
            <input name="url" type="url" required maxLength={2048} placeholder="https://ci.example.com/availsync" />
          </label>
          <label>
            Events
            <input name="events" defaultValue="*" placeholder="* or claim.started, claim.finished" />
          </label>
          <label>
            Format
            <select name="format" defaultValue="json">
              <option value="json">JSON (the event)</option>
              <option value="slack">Slack ({'{"text": …}'})</option>
            </select>
          </label>
          <label>
            Description
            <input name="description" maxLength={500} />
          </label>
          <button className="btn primary" type="submit" disabled={busy}>
            {busy ? 'Adding…' : 'Add webhook'}
          </button>
        </form>
      </Card>
      {created ? <SecretPanel created={created} onDone={() => setCreated(undefined)} /> : null}
      <Card title="Endpoints">
        <ErrorBox error={hooks.error} />
        {!hooks.data ? (
          <div className="placeholder">Loading…</div>
        ) : hooks.data.data.length === 0 ? (
          <Empty title="No webhooks">Add an endpoint to have claim, hold and run events POSTed to it, signed.</Empty>
        ) : (
          <table data-testid="webhooks">
            <thead>
              <tr>
                <th>Endpoint</th>
                <th>Events</th>
                <th>Format</th>
                <th>State</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {hooks.data.data.map((h) => (
                <WebhookRow key={h.id} hook={h} onChanged={() => void hooks.reload()} />
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </>
  );
}
