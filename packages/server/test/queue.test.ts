/**
 * The wait queue on every store, with the injected clock: grants in priority then arrival
 * order, one at a time; hand-off on finish, release and a lapsed lease; the deadline; no jumping; a closed
 * request leaves at once; an Idempotency-Key retried while queued keeps its place; dependency scopes;
 * the queue in GET /v1/work/resources; bad input.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, MIN, type Res, requestInit, STORES, type TestServer } from '@availsync/testkit';

const RES = 'repo:acme/queue';

for (const kind of STORES) {
  describe(`wait queue (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    const waiters = async (orgId: string) =>
      t.store.db.selectFrom('queue_waiters').selectAll().where('org_id', '=', orgId).orderBy('priority', 'desc').orderBy('n').execute();
    /** Until `n` waiters of the workspace are queued (the requests run concurrently with the test). */
    async function queued(orgId: string, n: number) {
      for (let i = 0; i < 2000; i++) {
        if ((await waiters(orgId)).length === n) return;
        await new Promise((r) => setTimeout(r, 2));
      }
      throw new Error(`never ${n} waiters`);
    }
    /** A start sent now, answered later; `signal` closes it. */
    function send(key: string, body: Record<string, unknown>, signal?: AbortSignal, headers: Record<string, string> = {}) {
      const init = requestInit('POST', { key, body: { resource: RES, ...body }, headers });
      return Promise.resolve(t.app.request('/v1/work/run/start', { ...init, ...(signal ? { signal } : {}) })).then(async (r: Response) => ({
        status: r.status,
        body: (await r.json()) as Record<string, any>,
      }));
    }
    async function team(n: number, priorities: number[] = []) {
      const { session, agent } = await t.workspace({ priority: 100 });
      const agents = [agent];
      for (let i = 1; i < n; i++) agents.push(await t.createAgent(session, { name: `a${i}`, priority: priorities[i] ?? 100 }));
      return { session, agents };
    }
    const finish = (key: string, claimId: string) => t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: claimId } });

    it('wait_seconds out of range or not an integer is 400 with details, nothing changed', async () => {
      const { session, agents } = await team(1);
      for (const wait_seconds of [901, -1, 1.5, '10']) {
        const res: Res = await t.start(agents[0]!.key, { resource: RES, wait_seconds });
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.ok(res.body.details, JSON.stringify(res.body));
      }
      const claims = await t.store.db.selectFrom('claims').selectAll().where('org_id', '=', session.orgId).execute();
      assert.equal(claims.length, 0);
      assert.equal((await waiters(session.orgId)).length, 0);
    });

    it('a free resource is granted at once with waited_ms 0; wait 0 answers as v1', async () => {
      const { agents } = await team(2);
      const a = await t.start(agents[0]!.key, { resource: RES, wait_seconds: 30 });
      assert.equal(a.body.action, 'proceed');
      assert.equal(a.body.waited_ms, 0);
      const b = await t.start(agents[1]!.key, { resource: RES });
      assert.equal(b.body.action, 'skip_run');
      assert.equal(b.body.reason_code, undefined);
      assert.equal(b.body.queue_length, undefined);
    });

    it('finish hands over to the head; order is priority then arrival; one grant at a time', async () => {
      const { session, agents } = await team(4, [100, 10, 50, 10]);
      const [h, low1, mid, low2] = agents as [(typeof agents)[0], (typeof agents)[0], (typeof agents)[0], (typeof agents)[0]];
      const held = await t.start(h.key, { resource: RES });
      assert.equal(held.body.action, 'proceed');
      const pLow1 = send(low1.key, { wait_seconds: 600 });
      await queued(session.orgId, 1);
      const pMid = send(mid.key, { wait_seconds: 600 });
      await queued(session.orgId, 2);
      const pLow2 = send(low2.key, { wait_seconds: 600 });
      await queued(session.orgId, 3);
      assert.deepEqual(
        (await waiters(session.orgId)).map((w) => w.agent_id),
        [mid.id, low1.id, low2.id],
      );

      // The queue as the API shows it.
      const list = await t.request('GET', '/v1/work/resources', { session });
      const entry = list.body.data.find((r: { resource: string }) => r.resource === RES);
      assert.deepEqual(
        entry.queue.map((q: { agent_id: string }) => q.agent_id),
        [mid.id, low1.id, low2.id],
      );
      assert.equal(entry.queue_count, 3);
      assert.equal(entry.queue_truncated, false);

      let granted: Record<string, any>[] = [];
      const settled = { mid: false, low1: false, low2: false };
      void pMid.then(() => (settled.mid = true));
      void pLow1.then(() => (settled.low1 = true));
      void pLow2.then(() => (settled.low2 = true));

      t.clock.advance(2000);
      await finish(h.key, held.body.claim.id);
      const m = await pMid;
      assert.equal(m.body.action, 'proceed', JSON.stringify(m.body));
      assert.equal(m.body.claim.agent_id, mid.id);
      assert.ok(m.body.waited_ms >= 2000);
      granted.push(m.body);
      await queued(session.orgId, 2);
      assert.equal(settled.low1 || settled.low2, false);

      await finish(mid.key, m.body.claim.id);
      const l1 = await pLow1;
      assert.equal(l1.body.claim.agent_id, low1.id);
      await queued(session.orgId, 1);
      assert.equal(settled.low2, false);

      // Released (DELETE) hands over too.
      const rel = await t.request('DELETE', `/v1/work/claims/${l1.body.claim.id}`, { key: low1.key });
      assert.equal(rel.status, 200);
      const l2 = await pLow2;
      assert.equal(l2.body.claim.agent_id, low2.id);
      granted = [];
      assert.equal((await waiters(session.orgId)).length, 0);

      const events = await t.store.db.selectFrom('events').select(['type', 'data']).where('org_id', '=', session.orgId).execute();
      const types = events.map((e) => e.type);
      assert.equal(types.filter((x) => x === 'queue.joined').length, 3);
      assert.equal(types.filter((x) => x === 'queue.left').length, 3);
      assert.ok(events.filter((e) => e.type === 'queue.left').every((e) => JSON.parse(e.data).reason === 'granted'));
    });

    it('invariant: eight waiters of mixed priorities are granted one at a time, in priority then arrival order', async () => {
      const prios = [100, 30, 70, 30, 100, 70, 30, 100, 70];
      const { session, agents } = await team(prios.length, prios);
      const held = await t.start(agents[0]!.key, { resource: RES });
      const pending = new Map<string, Promise<{ status: number; body: Record<string, any> }>>();
      for (let i = 1; i < prios.length; i++) {
        pending.set(agents[i]!.id, send(agents[i]!.key, { wait_seconds: 900 }));
        await queued(session.orgId, i);
      }
      const expected = agents
        .slice(1)
        .map((a, i) => ({ id: a.id, p: prios[i + 1]!, i }))
        .sort((x, y) => y.p - x.p || x.i - y.i)
        .map((x) => x.id);
      const order: string[] = [];
      let current = { key: agents[0]!.key, claimId: held.body.claim.id as string };
      for (let n = 0; n < expected.length; n++) {
        await finish(current.key, current.claimId);
        const next = expected[n]!;
        const got = await pending.get(next)!;
        assert.equal(got.body.action, 'proceed', JSON.stringify(got.body));
        order.push(got.body.claim.agent_id);
        const active = await t.store.db
          .selectFrom('claims')
          .select('id')
          .where('org_id', '=', session.orgId)
          .where('status', '=', 'active')
          .execute();
        assert.equal(active.length, 1, 'never two grants at once');
        current = { key: agents.find((a) => a.id === next)!.key, claimId: got.body.claim.id };
      }
      assert.deepEqual(order, expected);
    });

    it('no jumping: a start that does not wait is skipped with queue_length while others wait', async () => {
      const { session, agents } = await team(3);
      const held = await t.start(agents[0]!.key, { resource: RES });
      const p = send(agents[1]!.key, { wait_seconds: 600 });
      await queued(session.orgId, 1);
      const x = await t.start(agents[2]!.key, { resource: RES });
      assert.equal(x.body.action, 'skip_run');
      assert.equal(x.body.queue_length, 1);
      assert.equal(x.body.blocking_claim.id, held.body.claim.id);
      await finish(agents[0]!.key, held.body.claim.id);
      assert.equal((await p).body.action, 'proceed');
    });

    it('the deadline answers skip_run wait_timeout and leaves the queue', async () => {
      const { session, agents } = await team(2);
      await t.start(agents[0]!.key, { resource: RES });
      const p = send(agents[1]!.key, { wait_seconds: 10 });
      await queued(session.orgId, 1);
      t.clock.advance(10_500);
      const r = await p;
      assert.equal(r.body.action, 'skip_run');
      assert.equal(r.body.reason_code, 'wait_timeout');
      assert.equal((await waiters(session.orgId)).length, 0);
    });

    it('a lease that lapses without a sweep hands over to the head', async () => {
      const { session, agents } = await team(2);
      await t.start(agents[0]!.key, { resource: RES, duration_minutes: 1 });
      const p = send(agents[1]!.key, { wait_seconds: 300 });
      await queued(session.orgId, 1);
      for (let i = 0; i < 7; i++) t.clock.advance(10_000);
      const r = await p;
      assert.equal(r.body.action, 'proceed', JSON.stringify(r.body));
      assert.equal(r.body.claim.agent_id, agents[1]!.id);
    });

    it('a closed request leaves the queue at once and the next head is granted', async () => {
      const { session, agents } = await team(3);
      const held = await t.start(agents[0]!.key, { resource: RES });
      const closer = new AbortController();
      const gone = send(agents[1]!.key, { wait_seconds: 600 }, closer.signal).catch(() => 'closed');
      await queued(session.orgId, 1);
      const p = send(agents[2]!.key, { wait_seconds: 600 });
      await queued(session.orgId, 2);
      closer.abort();
      await gone;
      await queued(session.orgId, 1);
      assert.equal((await waiters(session.orgId))[0]?.agent_id, agents[2]!.id);
      const left = await t.store.db
        .selectFrom('events')
        .select('data')
        .where('org_id', '=', session.orgId)
        .where('type', '=', 'queue.left')
        .execute();
      assert.deepEqual(
        left.map((e) => JSON.parse(e.data).reason),
        ['closed'],
      );
      await finish(agents[0]!.key, held.body.claim.id);
      assert.equal((await p).body.claim.agent_id, agents[2]!.id);
    });

    it('an Idempotency-Key retried while queued keeps its place; both answers are the grant', async () => {
      const { session, agents } = await team(3);
      const held = await t.start(agents[0]!.key, { resource: RES });
      const first = send(agents[1]!.key, { wait_seconds: 600 }, undefined, { 'idempotency-key': 'k-wait-1' });
      await queued(session.orgId, 1);
      const other = send(agents[2]!.key, { wait_seconds: 600 });
      await queued(session.orgId, 2);
      const rows = await waiters(session.orgId);
      const retry = send(agents[1]!.key, { wait_seconds: 600 }, undefined, { 'idempotency-key': 'k-wait-1' });
      for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 2));
      assert.deepEqual(
        (await waiters(session.orgId)).map((w) => w.id),
        rows.map((w) => w.id),
      );
      await finish(agents[0]!.key, held.body.claim.id);
      const [a, b] = await Promise.all([first, retry]);
      assert.equal(a.body.action, 'proceed', JSON.stringify(a.body));
      assert.equal(b.body.claim.id, a.body.claim.id);
      assert.equal(a.body.claim.agent_id, agents[1]!.id);
      await finish(agents[1]!.key, a.body.claim.id);
      assert.equal((await other).body.claim.agent_id, agents[2]!.id);
    });

    it('a start related by a dependency rule to a held resource waits and is woken when it ends', async () => {
      const { session, agents } = await team(2);
      const put = await t.request('PUT', `/v1/orgs/${session.orgId}/rules`, {
        session,
        body: { dependencies: [{ resource: 'project:site', depends_on: [RES] }] },
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      const held = await t.start(agents[0]!.key, { resource: RES });
      const p = send(agents[1]!.key, { resource: 'project:site', wait_seconds: 600 });
      await queued(session.orgId, 1);
      await finish(agents[0]!.key, held.body.claim.id);
      const r = await p;
      assert.equal(r.body.action, 'proceed', JSON.stringify(r.body));
      assert.equal(r.body.claim.resource, 'project:site');
    });

    it('a waiter row of a dead node is ignored once stale', async () => {
      const { session, agents } = await team(2);
      const now = t.clock.now();
      await t.store.db
        .insertInto('queue_waiters')
        .values({
          id: 'qwt_dead',
          org_id: session.orgId,
          resource_type: 'repo',
          resource_key: 'acme/queue',
          agent_id: agents[1]!.id,
          priority: 100,
          idem_scope: null,
          idem_key: null,
          created_at: now,
          deadline: now + 600_000,
          heartbeat_at: now,
        })
        .execute();
      const blocked = await t.start(agents[0]!.key, { resource: RES });
      assert.equal(blocked.body.action, 'skip_run');
      assert.equal(blocked.body.queue_length, 1);
      t.clock.advance(MIN);
      const ok = await t.start(agents[0]!.key, { resource: RES });
      assert.equal(ok.body.action, 'proceed');
      assert.equal((await waiters(session.orgId)).length, 0);
    });
  });
}
