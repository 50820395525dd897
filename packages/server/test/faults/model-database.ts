/**
 * The model-based test's database check (model.test.ts), after every command: the rows of the run equal
 * the model, and the global invariants hold from the rows alone.
 */
import assert from 'node:assert/strict';
import { patternsOverlap } from '../../src/domain/paths.js';
import { fileKey, iso, type Model, modelFiles, type Real } from './model-reference.js';

export async function verifyDatabase(m: Model, r: Real, after: string): Promise<void> {
  const db = r.t.store.db;
  const keysOf = (list: string[]) => list.map((x) => x.slice(x.indexOf(':') + 1));
  const claimKeys = keysOf(m.res);
  const allKeys = [...new Set([...claimKeys, ...keysOf(m.wsRes.slice(1))])];
  const [claims, files, resources, meta] = await Promise.all([
    db.selectFrom('claims').selectAll().where('org_id', '=', r.orgId).where('resource_key', 'in', claimKeys).execute(),
    db.selectFrom('file_claims').selectAll().where('org_id', '=', r.orgId).where('resource_key', 'in', allKeys).execute(),
    db.selectFrom('resources').selectAll().where('org_id', '=', r.orgId).where('resource_key', 'in', allKeys).execute(),
    db.selectFrom('meta').select('value').where('key', '=', 'clock_hwm').executeTakeFirstOrThrow(),
  ]);
  const ctx = `after ${after}`;
  const hwm = Number(meta.value);
  const res = (row: { resource_type: string; resource_key: string }) => `${row.resource_type}:${row.resource_key}`;

  // --- the database equals the model ---
  assert.equal(hwm, m.persisted, `persisted clock high-water mark, ${ctx}`);
  assert.deepEqual(
    claims
      .map((c) => ({
        id: c.id,
        resource: res(c),
        status: c.status,
        priority: c.priority,
        fencing_token: c.fencing_token,
        started_at: c.started_at,
        expires_at: c.expires_at,
        released_at: c.released_at,
        renewal_count: c.renewal_count,
        outcome: c.outcome,
        duration_minutes: c.duration_minutes,
        agent_id: c.agent_id,
      }))
      .sort((a, b) => (a.id < b.id ? -1 : 1)),
    m.claims
      .map((c) => ({
        id: c.id,
        resource: c.resource,
        status: c.status,
        priority: c.priority,
        fencing_token: c.token,
        started_at: c.started,
        expires_at: c.expires,
        released_at: c.released,
        renewal_count: c.renewals,
        outcome: c.outcome,
        duration_minutes: c.duration,
        agent_id: r.agents[c.agent]?.id,
      }))
      .sort((a, b) => (a.id < b.id ? -1 : 1)),
    `claim rows, ${ctx}`,
  );
  assert.deepEqual(
    files.map((f) => fileKey({ claim_id: f.claim_id, resource: res(f), mode: f.mode, path: f.path, expires_at: iso(f.expires_at) })).sort(),
    modelFiles(m.files),
    `file_claims rows, ${ctx}`,
  );
  for (const row of resources) {
    assert.equal(row.fencing_token, m.tokens.get(res(row)) ?? 0, `fencing counter of ${res(row)}, ${ctx}`);
  }

  // --- invariants, from the rows alone, at the decision clock (the persisted high-water mark) ---
  const live = (c: { status: string; expires_at: number }) => c.status === 'active' && c.expires_at > hwm;
  const byResource = new Map<string, typeof claims>();
  for (const c of claims) byResource.set(res(c), [...(byResource.get(res(c)) ?? []), c]);
  // Mutual exclusion (dependencies applied): claims on one resource or on two related ones are never live
  // together, and their lease intervals [started_at, min(expires_at, released_at)) never overlap.
  const conflict = (a: string, b: string) => a === b || (m.related.get(a) ?? []).includes(b);
  const until = (c: (typeof claims)[number]) => Math.min(c.expires_at, c.released_at ?? Number.POSITIVE_INFINITY);
  for (let i = 0; i < claims.length; i++) {
    for (let j = i + 1; j < claims.length; j++) {
      const [a, b] = [claims[i], claims[j]] as [(typeof claims)[number], (typeof claims)[number]];
      if (!conflict(res(a), res(b))) continue;
      const where = `${res(a)}${res(a) === res(b) ? '' : ` / ${res(b)}`}`;
      assert.ok(!(live(a) && live(b)), `claims ${a.id} and ${b.id} both live on ${where}, ${ctx}`);
      const overlap = Math.max(a.started_at, b.started_at) < Math.min(until(a), until(b));
      assert.ok(!overlap, `lease intervals of ${a.id} and ${b.id} overlap on ${where}, ${ctx}`);
    }
  }
  for (const [resource, list] of byResource) {
    // Fencing: strictly increasing tokens in started_at order; the resource row holds the last.
    const byToken = [...list].sort((a, b) => a.fencing_token - b.fencing_token);
    for (let i = 1; i < byToken.length; i++) {
      const [a, b] = [byToken[i - 1], byToken[i]] as [(typeof list)[number], (typeof list)[number]];
      assert.ok(a.fencing_token < b.fencing_token, `duplicate fencing token ${b.fencing_token} on ${resource}, ${ctx}`);
      assert.ok(a.started_at <= b.started_at, `token ${b.fencing_token} started before token ${a.fencing_token} on ${resource}, ${ctx}`);
    }
    const row = resources.find((x) => res(x) === resource);
    assert.equal(row?.fencing_token, byToken[byToken.length - 1]?.fencing_token, `resource row token of ${resource}, ${ctx}`);
  }
  // Working sets: no two live edit/delete file claims of different live claims overlap on one resource.
  const claimOf = new Map(claims.map((c) => [c.id, c]));
  const held = files.filter((f) => {
    const c = claimOf.get(f.claim_id);
    return f.mode !== 'review' && f.expires_at > hwm && c !== undefined && live(c);
  });
  for (let i = 0; i < held.length; i++) {
    for (let j = i + 1; j < held.length; j++) {
      const [a, b] = [held[i], held[j]] as [(typeof held)[number], (typeof held)[number]];
      if (a.claim_id === b.claim_id || res(a) !== res(b)) continue;
      assert.ok(
        !patternsOverlap(a.path, b.path),
        `file claims ${a.path} (${a.claim_id}) and ${b.path} (${b.claim_id}) overlap on ${res(a)}, ${ctx}`,
      );
    }
  }
  // No revival: an ended claim never becomes live again, and an ended row never changes again.
  for (const c of claims) {
    const ended = m.dbEnded.get(c.id);
    if (ended) {
      assert.ok(!live(c), `claim ${c.id} ended and is live again, ${ctx}`);
      if (ended.status !== 'active') {
        assert.deepEqual({ status: c.status, released_at: c.released_at }, ended, `ended claim ${c.id} changed, ${ctx}`);
      }
    }
    if (c.status !== 'active') m.dbEnded.set(c.id, { status: c.status, released_at: c.released_at });
    else if (!live(c) && !ended) m.dbEnded.set(c.id, { status: 'active', released_at: null });
  }
}
