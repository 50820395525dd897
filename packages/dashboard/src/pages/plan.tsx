import { api } from '../api';
import type { BillingStatusResponse } from '../types';
import { Card, ErrorBox, useLoad } from '../ui';

const LABELS = {
  agents: 'Agents',
  active_claims: 'Active claims',
  protected_resources: 'Protected resources',
  monthly_api_calls: 'API calls this month',
} as const;

export function PlanPage() {
  const { data, error } = useLoad(() => api<BillingStatusResponse>('GET', '/v1/billing/status'), [], 30_000);
  if (!data) return error ? <ErrorBox error={error} /> : <div className="placeholder">Loading…</div>;
  return (
    <>
      <ErrorBox error={error} />
      <Card title={`Current plan: ${data.plan}`}>
        <div className="usage">
          {(Object.keys(LABELS) as (keyof typeof LABELS)[]).map((k) => {
            const used = data.usage[k];
            const max = data.limits[k];
            const pct = max === null ? 0 : Math.min(100, (used / Math.max(1, max)) * 100);
            const tone = pct >= 100 ? 'bad' : pct >= 80 ? 'warn' : 'ok';
            return (
              <div className="meter" key={k}>
                <div className="meter-head">
                  <span>{LABELS[k]}</span>
                  <span className="tabular">
                    {used.toLocaleString()} / {max === null ? 'unlimited' : max.toLocaleString()}
                  </span>
                </div>
                <div
                  className="meter-track"
                  role="progressbar"
                  aria-label={LABELS[k]}
                  aria-valuenow={used}
                  aria-valuemin={0}
                  aria-valuemax={max ?? undefined}
                >
                  <div className={`meter-fill ${tone}`} style={{ width: `${max === null ? 0 : pct}%` }} />
                </div>
              </div>
            );
          })}
        </div>
        <p className="muted small">
          API calls are counted for {data.usage.period} (UTC). Plans: free (3 agents, 3 active claims, 25 resources, 10,000 calls a month),
          team (50, 100, 1,000, 1,000,000), unlimited.
        </p>
      </Card>
      <Card title="Upgrade hints">
        {data.upgrade_hints.length === 0 ? (
          <p>You are well within your plan.</p>
        ) : (
          <ul className="hints">
            {data.upgrade_hints.map((h) => (
              <li key={h.limit}>
                <b>{LABELS[h.limit]}</b>: {h.message} (suggested plan: {h.suggested_plan})
              </li>
            ))}
          </ul>
        )}
        <p className="muted small">
          An operator changes the plan on the server: <code>availsync-server plan set &lt;email&gt; team</code>.
        </p>
      </Card>
    </>
  );
}
