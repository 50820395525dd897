import { type FormEvent, useState } from 'react';
import { api, describeError } from '../api';
import { useSession } from '../session';
import type { Rules } from '../types';
import { Card, Empty, ErrorBox, useLoad } from '../ui';

export function RulesPage() {
  const { orgPath, can, session } = useSession();
  const rules = useLoad(() => api<Rules>('GET', `${orgPath}/rules`), [orgPath]);
  const [error, setError] = useState<string>();
  const [saved, setSaved] = useState<string>();
  const [busy, setBusy] = useState(false);
  const put = async (body: Partial<Rules>, what: string) => {
    setBusy(true);
    setError(undefined);
    setSaved(undefined);
    try {
      await api('PUT', `${orgPath}/rules`, body);
      setSaved(what);
      await rules.reload();
      return true;
    } catch (err) {
      setError(describeError(err));
      return false;
    } finally {
      setBusy(false);
    }
  };
  const r = rules.data;
  if (!r) return rules.error ? <ErrorBox error={rules.error} /> : <div className="placeholder">Loading…</div>;
  const saveDefaults = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    void put(
      {
        default_mode: f.get('default_mode') as Rules['default_mode'],
        default_claim_minutes: Number(f.get('default_claim_minutes')),
        max_claim_minutes: Number(f.get('max_claim_minutes')),
      },
      'Rules saved.',
    );
  };
  const addDependency = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const dependsOn = String(f.get('depends_on'))
      .split(/[,\s]+/)
      .filter(Boolean);
    const ok = await put(
      { dependencies: [...r.dependencies, { resource: String(f.get('resource')).trim(), depends_on: dependsOn }] },
      'Dependency added.',
    );
    if (ok) form.reset();
  };
  const admin = can('admin');
  return (
    <fieldset className="plain" disabled={!admin}>
      {admin ? null : (
        <div className="notice" role="status">
          You are a {session.workspace.role} here: you can read the rules; an admin or owner changes them.
        </div>
      )}
      <ErrorBox error={error} />
      {saved ? (
        <div className="notice" role="status">
          {saved}
        </div>
      ) : null}
      <Card title="Defaults">
        <form className="row wrap" onSubmit={saveDefaults} aria-label="Defaults" key={JSON.stringify(r)}>
          <label>
            Default mode
            <select name="default_mode" defaultValue={r.default_mode}>
              <option value="enforce">enforce — a busy resource makes the run skip</option>
              <option value="observe">observe — record what would have been blocked</option>
            </select>
          </label>
          <label>
            Default claim (minutes)
            <input name="default_claim_minutes" type="number" min={1} max={720} defaultValue={r.default_claim_minutes} />
          </label>
          <label>
            Longest claim (minutes)
            <input name="max_claim_minutes" type="number" min={1} max={720} defaultValue={r.max_claim_minutes} />
          </label>
          <button type="submit" className="btn primary" disabled={busy}>
            Save rules
          </button>
        </form>
        <p className="muted small">Agents whose mode is “inherit” follow the default mode. Changes are audited as rules.updated.</p>
      </Card>
      <Card title="Dependencies">
        <p className="muted small">A dependency makes claims on the two resources conflict with each other, in both directions.</p>
        {r.dependencies.length === 0 ? (
          <Empty title="No dependencies">For example, make repo:acme/api depend on repo:acme/schema so the two never run at once.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th>Resource</th>
                <th>Depends on</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {r.dependencies.map((d, i) => (
                <tr key={`${d.resource}->${d.depends_on.join(',')}`}>
                  <td>{d.resource}</td>
                  <td>{d.depends_on.join(', ')}</td>
                  <td>
                    <button
                      type="button"
                      className="btn small"
                      disabled={busy}
                      onClick={() => void put({ dependencies: r.dependencies.filter((_, j) => j !== i) }, 'Dependency removed.')}
                    >
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <form className="row wrap" onSubmit={addDependency} aria-label="Add a dependency">
          <label>
            Resource
            <input name="resource" required placeholder="repo:acme/api" />
          </label>
          <label>
            Depends on (comma separated)
            <input name="depends_on" required placeholder="repo:acme/schema, project:db" />
          </label>
          <button type="submit" className="btn" disabled={busy}>
            Add dependency
          </button>
        </form>
      </Card>
    </fieldset>
  );
}
