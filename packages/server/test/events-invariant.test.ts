/**
 * The event log's invariant, on both stores: every committed change has exactly one event, written with it.
 * A random sequence of operations (fast-check) runs against a real server (starts that proceed, skip or
 * preempt, extends, finishes, releases, working-set changes, holds made, confirmed, released, and leases
 * and holds lapsing under the sweeper as the clock moves); then each audit row of a change is matched to
 * exactly one event of the same change (type and claim or hold), and no event is left unmatched.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, MIN, STORES, type TestServer } from '@availsync/testkit';
import fc from 'fast-check';

/** Audit events that describe a committed change, and the live event each one has. */
const AUDITED: Record<string, string> = {
  'claim.started': 'claim.started',
  'claim.extended': 'claim.extended',
  'claim.finished': 'claim.finished',
  'claim.released': 'claim.released',
  'claim.expired': 'claim.expired',
  'claim.preempted': 'claim.preempted',
  'claim.skipped': 'run.skipped',
  'hold.created': 'hold.created',
  'hold.confirmed': 'hold.confirmed',
  'hold.released': 'hold.released',
  'hold.expired': 'hold.expired',
};

type Op =
  | { op: 'start'; agent: number; resource: number; preempt: boolean }
  | { op: 'extend' | 'finish' | 'release' | 'workingSet'; claim: number; path: number }
  | { op: 'hold'; agent: number; resource: number; slot: number; ttl: boolean }
  | { op: 'confirm' | 'unhold'; hold: number }
  | { op: 'advance'; minutes: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('start' as const), agent: fc.nat(2), resource: fc.nat(2), preempt: fc.boolean() }),
  fc.record({
    op: fc.constantFrom('extend' as const, 'finish' as const, 'release' as const, 'workingSet' as const),
    claim: fc.nat(20),
    path: fc.nat(3),
  }),
  fc.record({ op: fc.constant('hold' as const), agent: fc.nat(2), resource: fc.nat(1), slot: fc.nat(3), ttl: fc.boolean() }),
  fc.record({ op: fc.constantFrom('confirm' as const, 'unhold' as const), hold: fc.nat(10) }),
  fc.record({ op: fc.constant('advance' as const), minutes: fc.constantFrom(1, 20, 45) }),
);

for (const kind of STORES) {
  describe(`every committed change has exactly one event [${kind}]`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(() => t.close());

    it('random operations: audit rows of changes and events match one to one', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 30 }), async (ops) => {
          const session = await t.signup();
          const agents = [
            await t.createAgent(session, { name: 'lo', priority: 1 }),
            await t.createAgent(session, { name: 'mid', priority: 5 }),
            await t.createAgent(session, { name: 'hi', priority: 9 }),
          ];
          const claims: { id: string; key: string }[] = [];
          const holds: { id: string; key: string }[] = [];
          let workingSetChanges = 0;
          for (const o of ops) {
            if (o.op === 'start') {
              const a = agents[o.agent] as { key: string };
              const res = await t.start(a.key, { resource: `repo:inv/r${o.resource}`, preempt: o.preempt, duration_minutes: 30 });
              if (res.body.action === 'proceed' && res.body.claim) claims.push({ id: res.body.claim.id, key: a.key });
            } else if (o.op === 'advance') {
              t.clock.advance(o.minutes * MIN);
              await t.services.work.sweep();
              await t.services.holds.sweep();
            } else if (o.op === 'hold') {
              const a = agents[o.agent] as { key: string };
              const now = t.clock.now();
              const body = {
                resource: `release:inv-${o.resource}`,
                start_at: new Date(now + (o.slot + 1) * 60 * MIN).toISOString(),
                end_at: new Date(now + (o.slot + 2) * 60 * MIN).toISOString(),
                ...(o.ttl ? { ttl_minutes: 30 } : {}),
              };
              const res = await t.request('POST', '/v1/holds', { key: a.key, body });
              if (res.status === 201) holds.push({ id: res.body.hold.id, key: a.key });
            } else if (o.op === 'confirm' || o.op === 'unhold') {
              const h = holds[o.hold % Math.max(1, holds.length)];
              if (!h) continue;
              if (o.op === 'confirm') await t.request('POST', `/v1/holds/${h.id}/confirm`, { key: h.key });
              else await t.request('DELETE', `/v1/holds/${h.id}`, { key: h.key });
            } else if ('claim' in o) {
              const c = claims[o.claim % Math.max(1, claims.length)];
              if (!c) continue;
              if (o.op === 'extend') await t.request('POST', '/v1/work/run/extend', { key: c.key, body: { claim_id: c.id } });
              else if (o.op === 'finish') await t.request('POST', '/v1/work/run/finish', { key: c.key, body: { claim_id: c.id } });
              else if (o.op === 'release') await t.request('DELETE', `/v1/work/claims/${c.id}`, { key: c.key });
              else {
                const res = await t.request('POST', '/v1/work/run/working-set', {
                  key: c.key,
                  body: { claim_id: c.id, paths: [`src/f${o.path}.ts`] },
                });
                if (['updated', 'partial_proceed', 'blocked'].includes(res.body.action)) workingSetChanges += 1;
              }
            }
          }
          // PostgreSQL numbers events after they commit, below the cluster's oldest running transaction
          // (other suites' may hold that back for a moment): let this node's feed number them all.
          for (;;) {
            await t.services.events.wake();
            const waiting = await t.store.db
              .selectFrom('events')
              .select('type')
              .where('org_id', '=', session.orgId)
              .where('seq', 'is', null)
              .execute();
            if (waiting.length === 0) break;
            await new Promise((r) => setImmediate(r));
          }
          const audit = await t.store.db
            .selectFrom('audit_events')
            .select(['event', 'claim_id', 'details'])
            .where('org_id', '=', session.orgId)
            .execute();
          const events = await t.store.db
            .selectFrom('events')
            .select(['seq', 'type', 'data'])
            .where('org_id', '=', session.orgId)
            .orderBy('seq')
            .execute();
          // What each row is about: the claim (or the blocking claim of a skip) or the hold.
          const auditKeys = audit
            .filter((a) => a.event in AUDITED)
            .map((a) => {
              const details = JSON.parse(a.details) as { hold_id?: string };
              return `${AUDITED[a.event]} ${a.event.startsWith('hold.') ? details.hold_id : a.claim_id}`;
            });
          const eventKeys = events
            .filter((e) => !e.type.startsWith('working_set.'))
            .map((e) => {
              const data = JSON.parse(e.data) as { claim?: { id: string }; hold?: { id: string }; blocking_claim?: { id: string } };
              return `${e.type} ${(data.claim ?? data.hold ?? data.blocking_claim)?.id}`;
            });
          assert.deepEqual([...eventKeys].sort(), [...auditKeys].sort());
          assert.equal(events.filter((e) => e.type.startsWith('working_set.')).length, workingSetChanges);
          // Ids strictly increase (the public order).
          assert.ok(events.every((e) => e.seq !== null));
          for (let i = 1; i < events.length; i++) assert.ok(Number(events[i]?.seq) > Number(events[i - 1]?.seq));
        }),
        { numRuns: 12 },
      );
    });
  });
}
