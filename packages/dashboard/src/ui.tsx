import { type FormEvent, type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import { describeError } from './api';
import { useLiveReload } from './live';

/**
 * A form's submit: `action` gets the form's fields; while it runs `busy` is true, and what it throws is
 * shown as `error` (cleared at the next submit).
 */
export function useFormSubmit(action: (fields: FormData) => Promise<void>) {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const fields = new FormData(e.currentTarget);
    setBusy(true);
    setError(undefined);
    try {
      await action(fields);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return { submit, busy, error };
}

/** Load data, keep the last good result while reloading (no layout jump), optionally refresh on a timer. */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[], refreshMs?: number) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const loadRef = useRef(load);
  loadRef.current = load;
  const seq = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    setLoading(true);
    try {
      const value = await loadRef.current();
      if (mine === seq.current) {
        setData(value);
        setError(undefined);
      }
    } catch (err) {
      if (mine === seq.current) setError(describeError(err));
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  }, []);
  // Pages that refresh update from the live event stream; they poll only while it is down.
  const onEvent = useCallback(() => void reload(), [reload]);
  const live = useLiveReload(onEvent, refreshMs !== undefined);
  useEffect(() => {
    void reload();
    if (!refreshMs || live) return;
    const t = setInterval(() => void reload(), refreshMs);
    return () => clearInterval(t);
  }, [reload, refreshMs, live, ...deps]);
  return { data, error, loading, reload };
}

/** The current time, ticking every `ms`. */
export function useNow(ms = 1000) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

export function ErrorBox({ error }: { error: string | undefined }) {
  if (!error) return null;
  return (
    <div className="error" role="alert">
      {error}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <strong>{title}</strong>
      {children ? <div>{children}</div> : null}
    </div>
  );
}

export function Card({ title, children, actions }: { title?: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="card">
      {title || actions ? (
        <header className="card-head">
          {title ? <h2>{title}</h2> : <span />}
          {actions}
        </header>
      ) : null}
      {children}
    </section>
  );
}

export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (no permission, insecure origin): fall back to a selected textarea.
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  return (
    <button
      type="button"
      className="btn small"
      onClick={async () => {
        setState((await copyText(text)) ? 'copied' : 'failed');
        setTimeout(() => setState('idle'), 2000);
      }}
    >
      {state === 'copied' ? 'Copied' : state === 'failed' ? 'Select and copy' : label}
    </button>
  );
}

export function Pager({
  offset,
  limit,
  total,
  onChange,
}: {
  offset: number;
  limit: number;
  total: number;
  onChange: (offset: number) => void;
}) {
  const from = total === 0 ? 0 : offset + 1;
  const to = Math.min(offset + limit, total);
  return (
    <nav className="pager" aria-label="Pagination">
      <span>
        {from}–{to} of {total}
      </span>
      <button type="button" className="btn small" disabled={offset === 0} onClick={() => onChange(Math.max(0, offset - limit))}>
        Previous
      </button>
      <button type="button" className="btn small" disabled={offset + limit >= total} onClick={() => onChange(offset + limit)}>
        Next
      </button>
    </nav>
  );
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function fmtAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.round((now - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.max(0, s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function fmtLeft(iso: string, now: number): string {
  const s = Math.round((new Date(iso).getTime() - now) / 1000);
  if (s <= 0) return 'expired';
  const m = Math.floor(s / 60);
  const sec = s % 60;
  if (m >= 60) return `${Math.floor(m / 60)}h ${m % 60}m left`;
  return `${m}m ${String(sec).padStart(2, '0')}s left`;
}

export function Badge({ tone, children }: { tone: 'ok' | 'warn' | 'bad' | 'muted' | 'info'; children: ReactNode }) {
  return <span className={`badge ${tone}`}>{children}</span>;
}

/** The rendered width of an element, kept up to date as the window resizes (for SVG drawn at 1:1 scale). */
function useWidth<E extends HTMLElement>(fallback: number) {
  const ref = useRef<E>(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => setWidth(Math.max(120, Math.round(el.clientWidth)));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  return [ref, width] as const;
}

/**
 * A vertical bar chart of one or two series per label, drawn as SVG (no chart library). The SVG is drawn
 * at the width it is shown at, never stretched, so its labels keep the CSS font size on a phone too.
 */
export function BarChart({
  labels,
  series,
  height = 170,
  title,
}: {
  labels: string[];
  series: { name: string; values: number[]; color: string }[];
  height?: number;
  title: string;
}) {
  const [ref, width] = useWidth<HTMLElement>(600);
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const pad = { l: 32, r: 8, t: 10, b: 24 };
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const group = plotW / Math.max(1, labels.length);
  const barW = Math.max(2, (group - 4) / series.length);
  const ticks = [...new Set([0, Math.ceil(max / 2), max])];
  // One label per ~56 px (a "12-04" at 12 px is ~36 px wide), so neighbours never touch.
  const every = Math.max(1, Math.ceil(labels.length / Math.max(1, Math.floor(plotW / 56))));
  return (
    <figure className="chart" ref={ref}>
      <svg width="100%" height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={title}>
        <title>{title}</title>
        {ticks.map((t) => {
          const y = pad.t + plotH - (t / max) * plotH;
          return (
            <g key={t}>
              <line x1={pad.l} x2={width - pad.r} y1={y} y2={y} className="grid" />
              <text x={pad.l - 5} y={y + 4} textAnchor="end" className="axis">
                {t}
              </text>
            </g>
          );
        })}
        {labels.map((label, i) => (
          <g key={label}>
            {series.map((s, j) => {
              const v = s.values[i] ?? 0;
              const h = (v / max) * plotH;
              return (
                <rect key={s.name} x={pad.l + i * group + 2 + j * barW} y={pad.t + plotH - h} width={barW - 1} height={h} fill={s.color}>
                  <title>{`${label} · ${s.name}: ${v}`}</title>
                </rect>
              );
            })}
            {i % every === 0 ? (
              <text x={pad.l + i * group + group / 2} y={height - 6} textAnchor="middle" className="axis">
                {label}
              </text>
            ) : null}
          </g>
        ))}
      </svg>
      <figcaption>
        {series.map((s) => (
          <span key={s.name} className="legend">
            <i style={{ background: s.color }} /> {s.name}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

const HOUR = 3_600_000;

/** An axis label: the time of day on a window of a day or so, the date too on longer ones. */
function tickLabel(t: number, span: number, now: number): string {
  if (Math.abs(t - now) < 60_000) return 'now';
  const d = new Date(t);
  return span <= 36 * HOUR
    ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/**
 * Horizontal lanes of time bars: one lane per row, bars between `from` and `to`. A tick at `now` reads
 * "now"; the part of the window after now (holds ahead) is shaded as the future.
 */
export function Timeline({
  from,
  to,
  lanes,
  now,
  label,
}: {
  from: number;
  to: number;
  now: number;
  label: string;
  lanes: { name: string; bars: { id: string; start: number; end: number; tone: string; title: string }[] }[];
}) {
  const span = Math.max(1, to - from);
  const frac = (t: number) => (Math.min(Math.max(t, from), to) - from) / span;
  const pct = (t: number) => `${frac(t) * 100}%`;
  // Bars are placed by their end and at least 6 px wide: a lease that started a minute ago, on a window
  // ending at now, still shows at the right edge instead of as a hairline past it.
  const bar = (a: number, b: number) => ({
    right: `${(1 - frac(b)) * 100}%`,
    width: `max(6px, ${((Math.min(b, to) - Math.max(a, from)) / span) * 100}%)`,
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => from + f * span);
  const future = now < to ? { left: pct(now), width: `${(1 - frac(now)) * 100}%` } : undefined;
  return (
    <div className="timeline" role="img" aria-label={label} data-from={from} data-to={to}>
      <div className="tl-axis">
        {ticks.map((t) => (
          <span key={t} style={{ left: pct(t) }} title={new Date(t).toLocaleString()}>
            {tickLabel(t, span, now)}
          </span>
        ))}
      </div>
      {lanes.map((lane) => (
        <div className="tl-lane" key={lane.name}>
          <div className="tl-name" title={lane.name}>
            {lane.name}
          </div>
          <div className="tl-track">
            {future ? <div className="tl-future" style={future} title="the future" /> : null}
            {now >= from && now <= to ? <div className="tl-now" style={{ left: pct(now) }} /> : null}
            {lane.bars
              .filter((b) => b.end > from && b.start < to)
              .map((b) => (
                <div key={b.id} className={`tl-bar ${b.tone}`} style={bar(b.start, b.end)} title={b.title} />
              ))}
          </div>
        </div>
      ))}
    </div>
  );
}
