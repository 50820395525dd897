/**
 * Fault-injection scenarios 2 and 7 on every store, in-process with the manual clock:
 * - hot contention on one node: 64 clients over 8 hot and 200 cold resources, with extends, working sets,
 *   abandoned runs (left to expire) and preemptions, while the clock moves on;
 * - an idempotency storm: 50 identical concurrent starts with one key.
 * Every client operation is recorded as a history and checked with the database rows.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createTestServer, STORES, type TestServer } from '@availsync/testkit';
import { prng } from '../procs.js';
import { type ClaimRow, checkHistory, FencedStore, type FileRow, History } from './history.js';

const LONG = process.env.STRESS === 'long';
const CLIENTS = 64;
const OPS_PER_CLIENT = LONG ? 120 : 24;

async function rows(t: TestServer, orgId: string) {
  const claims = (await t.store.db.selectFrom('claims').selectAll().where('org_id', '=', orgId).execute()) as unknown as ClaimRow[];
  const files = (await t.store.db.selectFrom('file_claims').selectAll().where('org_id', '=', orgId).execute()) as unknown as FileRow[];
  return { claims, files };
}

for (const kind of STORES) {
  describe(`faults: hot contention and idempotency storms (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    it(`${CLIENTS} clients over 8 hot and 200 cold resources keep every invariant`, async () => {
      const seed = Number(process.env.FAULT_SEED ?? Date.now() % 100000);
      const rand = prng(seed);
      const session = await t.signup();
      const agents = [];
      for (let i = 0; i < CLIENTS; i++) agents.push(await t.createAgent(session, { name: `client-${i}`, priority: 100 + (i % 4) * 100 }));
      const history = new History();
      let stop = false;
      // Time moves on while clients work: leases lapse, abandoned runs expire, the sweeper runs.
      const clock = (async () => {
        while (!stop) {
          await new Promise((r) => setImmediate(r));
          t.clock.advance(Math.floor(rand() * 4000));
          if (rand() < 0.02) await t.services.work.sweep();
        }
      })();
      const pick = <T>(list: T[]) => list[Math.floor(rand() * list.length)] as T;
      const hot = Array.from({ length: 8 }, (_, i) => `repo:hot/h${i}`);
      const cold = Array.from({ length: 200 }, (_, i) => `project:cold-${i}`);

      await Promise.all(
        agents.map(async (agent, p) => {
          for (let n = 0; n < OPS_PER_CLIENT; n++) {
            const resource = rand() < 0.7 ? pick(hot) : pick(cold);
            const key = randomUUID();
            const started = await history.run(p, 'start', { resource, idempotencyKey: key }, () =>
              t.request('POST', '/v1/work/run/start', {
                key: agent.key,
                body: { resource, duration_minutes: 1 + Math.floor(rand() * 3), preempt: rand() < 0.2 },
                headers: { 'idempotency-key': key },
              }),
            );
            const claimId = started?.body?.claim?.id as string | undefined;
            if (!claimId) continue;
            const roll = rand();
            if (roll < 0.2) continue; // abandoned: never finished, left to expire
            if (roll < 0.6) {
              await history.run(p, 'extend', { claimId }, () =>
                t.request('POST', '/v1/work/run/extend', {
                  key: agent.key,
                  body: { claim_id: claimId, duration_minutes: 1 + Math.floor(rand() * 2) },
                }),
              );
            }
            if (rand() < 0.4) {
              const paths = [pick(['src/', 'src/a.ts', 'src/*.ts', 'docs/**', 'lib/[ab].ts', 'README.md', `own/${p}.ts`])];
              await history.run(p, 'working-set', { claimId }, () =>
                t.request('POST', '/v1/work/run/working-set', {
                  key: agent.key,
                  body: { claim_id: claimId, resource: 'repo:hot/mono', paths },
                }),
              );
            }
            await history.run(p, 'finish', { claimId }, () =>
              t.request('POST', '/v1/work/run/finish', {
                key: agent.key,
                body: { claim_id: claimId, outcome: pick(['finished', 'error', 'noop']) },
              }),
            );
            // A retried finish is harmless.
            if (rand() < 0.1) {
              await history.run(p, 'finish', { claimId }, () =>
                t.request('POST', '/v1/work/run/finish', { key: agent.key, body: { claim_id: claimId } }),
              );
            }
          }
        }),
      );
      stop = true;
      await clock;

      const { claims, files } = await rows(t, session.orgId);
      const violations = checkHistory(history, claims, files, await t.store.readNow());
      assert.deepEqual(violations, [], `seed ${seed}`);
      const starts = history.completions('start');
      const proceeds = starts.filter((o) => o.action === 'proceed');
      assert.ok(starts.length >= CLIENTS * OPS_PER_CLIENT * 0.99, 'every start was answered');
      assert.ok(proceeds.length / starts.length > 0.25, `liveness: ${proceeds.length}/${starts.length} starts proceeded (seed ${seed})`);
      assert.ok(
        history.ops.every((o) => o.type !== 'info'),
        'no 5xx or transport errors',
      );
      assert.ok(
        claims.some((c) => c.status === 'preempted'),
        'preemptions happened',
      );
      assert.ok(claims.some((c) => c.status === 'expired') || claims.some((c) => c.status === 'active'), 'abandoned runs expire');

      // After the storm: every lapsed resource is claimable at once.
      t.clock.advance(10 * 60_000);
      const late = await t.request('POST', '/v1/work/run/start', { key: agents[0]?.key, body: { resource: hot[0] } });
      assert.equal(late.body.action, 'proceed');
    });

    it('a paused client whose lease lapsed is fenced out: its late extend is 409 and its writes are refused', async () => {
      const { session, key } = await t.workspace({ name: 'slow-client' });
      const other = await t.createAgent(session, { name: 'successor' });
      const downstream = new FencedStore();
      const resource = 'repo:fenced/app';
      const first = await t.start(key, { resource, duration_minutes: 2 });
      assert.ok(downstream.write(resource, first.body.claim.fencing_token, 'first writes'));
      // The first client pauses (a GC pause, a suspended laptop) past its lease; another takes over.
      t.clock.advance(3 * 60_000);
      const second = await t.start(other.key, { resource });
      assert.equal(second.body.action, 'proceed');
      assert.ok(second.body.claim.fencing_token > first.body.claim.fencing_token);
      assert.ok(downstream.write(resource, second.body.claim.fencing_token, 'successor writes'));
      // The paused client wakes up: its extend is refused and the downstream rejects its stale token.
      const late = await t.request('POST', '/v1/work/run/extend', { key, body: { claim_id: first.body.claim.id } });
      assert.equal(late.status, 409);
      assert.equal(late.body.error, 'claim_not_active');
      assert.equal(late.body.status, 'expired');
      assert.equal(downstream.write(resource, first.body.claim.fencing_token, 'stale write'), false);
      assert.deepEqual(
        downstream.accepted.map((w) => w.value),
        ['first writes', 'successor writes'],
      );
    });

    it('an idempotency storm: 50 identical concurrent starts give one claim and identical bodies', async () => {
      const { session, key } = await t.workspace();
      const body = { resource: 'repo:storm/app', duration_minutes: 10, reason: 'storm' };
      const replies = await Promise.all(
        Array.from({ length: 50 }, () => t.request('POST', '/v1/work/run/start', { key, body, headers: { 'idempotency-key': 'storm-1' } })),
      );
      assert.ok(replies.every((r) => r.status === 200));
      const first = JSON.stringify(replies[0]?.body);
      assert.ok(
        replies.every((r) => JSON.stringify(r.body) === first),
        'identical bodies',
      );
      assert.equal(replies[0]?.body.action, 'proceed');
      const claims = await t.store.db.selectFrom('claims').select('id').where('org_id', '=', session.orgId).execute();
      assert.equal(claims.length, 1);
      // A storm of different bodies under one key: one wins, the rest are 422, still one claim.
      const mixed = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          t.request('POST', '/v1/work/run/start', {
            key,
            body: { resource: `repo:storm/m${i}` },
            headers: { 'idempotency-key': 'storm-2' },
          }),
        ),
      );
      assert.equal(mixed.filter((r) => r.status === 200).length, 1);
      assert.equal(mixed.filter((r) => r.status === 422).length, 19);
    });
  });
}
