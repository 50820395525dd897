/**
 * Growth: fill a stopped server's database with historical claims and protected resources, so the same
 * start+finish figures can be compared against the empty database.
 */

import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';

export async function seedGrowth(kind: 'sqlite' | 'pg1', where: string, claims: number, resources: number): Promise<void> {
  const perResource = Math.ceil(claims / resources);
  const t0 = Date.now() - 90 * 24 * 3600_000;
  if (kind === 'sqlite') {
    const db = new Database(join(where, 'availsync.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    const { org_id, agent_id } = db.prepare('select org_id, id as agent_id from agents limit 1').get() as {
      org_id: string;
      agent_id: string;
    };
    const insRes = db.prepare(
      'insert into resources (org_id, resource_type, resource_key, fencing_token, created_at, last_claimed_at) values (?, ?, ?, ?, ?, ?)',
    );
    const insClaim = db.prepare(
      `insert into claims (id, org_id, agent_id, resource_type, resource_key, status, mode, reason, priority, metadata, fencing_token,
        idempotency_key, duration_minutes, created_at, started_at, expires_at, released_at, outcome, renewal_count)
       values (?, ?, ?, 'repo', ?, 'released', 'enforce', 'history', 100, '{}', ?, null, 30, ?, ?, ?, ?, 'finished', 0)`,
    );
    const fill = db.transaction(() => {
      let n = 0;
      for (let r = 0; r < resources; r++) {
        const key = `history/repo-${r}`;
        const tokens = Math.min(perResource, claims - n);
        insRes.run(org_id, 'repo', key, Math.max(tokens, 0), t0, t0);
        for (let k = 1; k <= tokens; k++, n++) {
          const at = t0 + n * 1000;
          insClaim.run(`clm_hist${n}`, org_id, agent_id, key, k, at, at, at + 1_800_000, at + 60_000);
        }
      }
    });
    fill();
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    return;
  }
  const client = new pg.Client({ connectionString: where });
  await client.connect();
  const { rows } = await client.query('select org_id, id as agent_id from agents limit 1');
  const { org_id, agent_id } = rows[0];
  await client.query(
    `insert into resources (org_id, resource_type, resource_key, fencing_token, created_at, last_claimed_at)
     select $1, 'repo', 'history/repo-' || r, $3::bigint, $4::bigint, $4::bigint from generate_series(0, $2::int - 1) r`,
    [org_id, resources, perResource, t0],
  );
  await client.query(
    `insert into claims (id, org_id, agent_id, resource_type, resource_key, status, mode, reason, priority, metadata, fencing_token,
       idempotency_key, duration_minutes, created_at, started_at, expires_at, released_at, outcome, renewal_count)
     select 'clm_hist' || n, $1, $2, 'repo', 'history/repo-' || (n / $4::int), 'released', 'enforce', 'history', 100, '{}',
       (n % $4::int) + 1, null, 30, $5::bigint + n * 1000, $5::bigint + n * 1000, $5::bigint + n * 1000 + 1800000,
       $5::bigint + n * 1000 + 60000, 'finished', 0
     from generate_series(0, $3::int - 1) n`,
    [org_id, agent_id, claims, perResource, t0],
  );
  await client.query('vacuum analyze');
  // As pgbench does before a run: write the seed's dirty pages out now, so that a checkpoint the seed made
  // due does not start during the measurement (its full-page writes slow every commit for a while).
  await client.query('checkpoint');
  await client.end();
}
