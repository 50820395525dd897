/**
 * `availsync-server export audit --format ndjson|csv [--from <ts>] [--to <ts>] [--org <org_id>]`: the audit
 * log streamed to stdout. Keyset pagination over the primary key (ids sort in creation order, ids.ts) in
 * batches, each written before the next is read and held back while the output's buffer is full, so memory
 * stays flat however many rows there are. No index is needed beyond the primary key: a filtered export
 * walks the table once in all (storage's auditPage reads the pages). Rule: formatting and flow here, SQL in
 * storage/.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { iso } from './clock.js';
import { type AuditRow, auditPage, type Store } from './storage/store.js';

export const EXPORT_USAGE = `Usage: availsync-server export audit --format ndjson|csv [--from <time>] [--to <time>] [--org <org_id>]
  --from, --to   ISO 8601 times (e.g. 2026-12-01 or 2026-12-01T10:00:00Z); from inclusive, to exclusive
  --org          one workspace's events only
Rows in creation order, to stdout.`;

export const EXPORT_BATCH = 1000;

export interface AuditExportOptions {
  format: 'ndjson' | 'csv';
  from?: number;
  to?: number;
  org?: string;
  batch?: number;
}

export const CSV_COLUMNS = ['id', 'created_at', 'org_id', 'event', 'actor_type', 'actor_id', 'resource', 'claim_id', 'details'] as const;

/** Parse `audit --format …` (the words after `export`); a string is the usage error to print. */
export function parseExportArgs(args: string[]): AuditExportOptions | string {
  const [what, ...rest] = args;
  if (what !== 'audit') return what === undefined ? 'nothing to export' : `cannot export "${what}" (only "audit")`;
  let values: { format?: string | undefined; from?: string | undefined; to?: string | undefined; org?: string | undefined };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { format: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, org: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  if (values.format !== 'ndjson' && values.format !== 'csv') return '--format must be ndjson or csv';
  const opts: AuditExportOptions = { format: values.format };
  for (const name of ['from', 'to'] as const) {
    const text = values[name];
    if (text === undefined) continue;
    const ms = Date.parse(text);
    if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms)) return `--${name} must be an ISO 8601 time, not "${text}"`;
    opts[name] = ms;
  }
  if (opts.from !== undefined && opts.to !== undefined && opts.from > opts.to) return '--from must not be after --to';
  if (values.org !== undefined) {
    if (!values.org) return '--org needs a workspace id';
    opts.org = values.org;
  }
  return opts;
}

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break; quotes doubled. */
export function csvField(value: string | null): string {
  if (value === null) return '';
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function ndjsonLine(r: AuditRow): string {
  let details: unknown;
  try {
    details = JSON.parse(r.details);
  } catch {
    details = r.details;
  }
  return `${JSON.stringify({
    id: r.id,
    created_at: iso(Number(r.created_at)),
    org_id: r.org_id,
    event: r.event,
    actor_type: r.actor_type,
    actor_id: r.actor_id,
    resource: r.resource,
    claim_id: r.claim_id,
    details,
  })}\n`;
}

function csvLine(r: AuditRow): string {
  const fields = [r.id, iso(Number(r.created_at)), r.org_id, r.event, r.actor_type, r.actor_id, r.resource, r.claim_id, r.details];
  return `${fields.map(csvField).join(',')}\r\n`;
}

/** Write the export to `out`; resolves with the number of rows once the last batch is handed over. */
export async function exportAudit(store: Store, opts: AuditExportOptions, out: Writable): Promise<number> {
  const batch = opts.batch ?? EXPORT_BATCH;
  const line = opts.format === 'csv' ? csvLine : ndjsonLine;
  let failed: Error | undefined;
  const onError = (err: Error) => {
    failed = err;
  };
  out.on('error', onError);
  const write = async (chunk: string) => {
    if (failed) throw failed;
    if (!out.write(chunk)) {
      // Backpressure: wait until the reader has taken what is buffered (or the stream fails).
      await Promise.race([once(out, 'drain'), once(out, 'close')]);
      if (failed) throw failed;
    }
  };
  try {
    if (opts.format === 'csv') await write(`${CSV_COLUMNS.join(',')}\r\n`);
    let after: string | undefined;
    let rows = 0;
    for (;;) {
      const page = await auditPage(store, { after, org: opts.org, from: opts.from, to: opts.to, limit: batch });
      if (page.length === 0) break;
      let chunk = '';
      for (const r of page) chunk += line(r);
      await write(chunk);
      rows += page.length;
      after = page[page.length - 1]?.id;
      if (page.length < batch) break;
    }
    return rows;
  } finally {
    out.off('error', onError);
  }
}
