/**
 * GET /v1/events over real HTTP with a real SSE client, on both stores, with the injected clock: the events
 * each change appends, resume with Last-Event-ID (every later event once, in order), type filters, agent
 * keys, heartbeats (clock.advance), the slow-subscriber cut-off, the per-workspace cap, retention and bad
 * input.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  accountHelpers,
  type Call,
  MIN,
  makeStore,
  readResponse,
  requestInit,
  STORES,
  type StoreKind,
  testConfig,
} from '@availsync/testkit';
import { ManualClock } from '../src/clock.js';
import type { Config } from '../src/config.js';
import { silentLogger } from '../src/logger.js';
import { createAvailsync, listen } from '../src/server.js';
import { appendEvents } from '../src/storage/queries/events.js';
import { openSse, type SseClient } from './sse-client.js';

const DAY = 24 * 60 * MIN;

export async function serveEvents(kind: StoreKind, config: Partial<Config> = {}) {
  const clock = new ManualClock(Date.now());
  const made = makeStore(kind, clock);
  const instance = await createAvailsync({
    config: { ...testConfig, ...config },
    store: made.store,
    clock,
    logger: silentLogger,
    sweeper: false,
  });
  const http = await listen(instance, 0, '127.0.0.1');
  const request = async <T = any>(method: string, path: string, call: Call = {}) =>
    readResponse<T>(await fetch(http.url + path, requestInit(method, call)));
  const { signup, createAgent } = accountHelpers(request, 'events');
  const clients: SseClient[] = [];
  async function stream(path: string, auth: { key?: string; cookie?: string }, headers: Record<string, string> = {}) {
    const h: Record<string, string> = { ...headers };
    if (auth.key) h.authorization = `Bearer ${auth.key}`;
    if (auth.cookie) h.cookie = `availsync_session=${auth.cookie}`;
    const c = await openSse(http.url + path, h);
    clients.push(c);
    return c;
  }
  return {
    clock,
    instance,
    store: made.store,
    url: http.url,
    request,
    signup,
    createAgent,
    stream,
    start: (key: string, body: Record<string, unknown> = {}) =>
      request('POST', '/v1/work/run/start', { key, body: { resource: 'repo:acme/app', ...body } }),
    async close() {
      for (const c of clients) c.close();
      await http.stop();
      await made.drop();
    },
  };
}

/** Until the clock has at least `n` sleepers (the stream's heartbeat wait among them). */
async function untilSleeping(clock: ManualClock, n: number) {
  while (clock.sleeping < n) await new Promise((r) => setImmediate(r));
}

for (const kind of STORES) {
  describe(`GET /v1/events [${kind}]`, () => {
    let s: Awaited<ReturnType<typeof serveEvents>>;
    before(async () => {
      s = await serveEvents(kind, { eventStreams: { maxQueued: 5, maxPerWorkspace: 3 } });
    });
    after(() => s.close());

    async function world() {
      const session = await s.signup();
      const agent = await s.createAgent(session, { name: 'builder' });
      return { session, agent };
    }

    it('streams each change as it commits: id, event and the event JSON with the claim as the API shows it', async () => {
      const { session, agent } = await world();
      const sse = await s.stream('/v1/events', { cookie: session.cookie });
      assert.equal(sse.status, 200);
      assert.match(sse.headers.get('content-type') ?? '', /^text\/event-stream/);
      const started = await s.start(agent.key, { resource: 'repo:acme/one' });
      const claim = started.body.claim;
      await s.request('POST', '/v1/work/run/extend', { key: agent.key, body: { claim_id: claim.id } });
      await s.request('POST', '/v1/work/run/working-set', { key: agent.key, body: { claim_id: claim.id, paths: ['src/a.ts'] } });
      const other = await s.createAgent(session, { name: 'second' });
      const skipped = await s.start(other.key, { resource: 'repo:acme/one' });
      assert.equal(skipped.body.action, 'skip_run');
      await s.request('POST', '/v1/work/run/finish', { key: agent.key, body: { claim_id: claim.id } });
      await sse.until(5);
      const events = sse.events();
      assert.deepEqual(
        events.map((e) => e.type),
        ['claim.started', 'claim.extended', 'working_set.updated', 'run.skipped', 'claim.finished'],
      );
      assert.deepEqual(
        sse.messages.map((m) => [m.id, m.event]),
        events.map((e) => [String(e.id), e.type]),
      );
      for (let i = 1; i < events.length; i++) assert.ok((events[i]?.id ?? 0) > (events[i - 1]?.id ?? 0));
      const [first, , , skip, done] = events;
      assert.equal(first?.workspace_id, session.orgId);
      assert.deepEqual(first?.data.claim, claim);
      assert.deepEqual(first?.data.agent, { id: agent.id, name: 'builder' });
      assert.equal(first?.data.resource, 'repo:acme/one');
      const blocking = skip?.data.blocking_claim as { id: string; agent_name: string };
      assert.equal(blocking.id, claim.id);
      assert.equal(blocking.agent_name, 'builder');
      assert.equal((done as unknown as { data: { claim: { status: string } } }).data.claim.status, 'released');
      sse.close();
    });

    it('resumes with Last-Event-ID: every later event once, in order, then live without a gap or a repeat', async () => {
      const { session, agent } = await world();
      const first = await s.stream('/v1/events', { cookie: session.cookie });
      for (let i = 0; i < 3; i++) await s.start(agent.key, { resource: `repo:acme/r${i}` });
      await first.until(3);
      const seen = first.events();
      first.close();
      await first.ended;
      // Missed while disconnected.
      for (let i = 3; i < 8; i++) await s.start(agent.key, { resource: `repo:acme/r${i}` });
      const lastId = seen[1]?.id as number;
      const again = await s.stream('/v1/events', { cookie: session.cookie }, { 'last-event-id': String(lastId) });
      await again.until(6);
      for (let i = 8; i < 10; i++) await s.start(agent.key, { resource: `repo:acme/r${i}` });
      await again.until(8);
      const resumed = again.events();
      assert.deepEqual(
        resumed.map((e) => (e.data.resource as string).replace('repo:acme/', '')),
        ['r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9'],
      );
      assert.equal(new Set(resumed.map((e) => e.id)).size, resumed.length);
      assert.ok(resumed.every((e) => e.id > lastId));
      // ?last_event_id= for clients that cannot set headers: the same answer.
      const byQuery = await s.stream(`/v1/events?last_event_id=${lastId}`, { cookie: session.cookie });
      await byQuery.until(8);
      assert.deepEqual(
        byQuery.events().map((e) => e.id),
        resumed.map((e) => e.id),
      );
      again.close();
      byQuery.close();
    });

    it('?types= filters; an agent key sees its own workspace only', async () => {
      const a = await world();
      const b = await world();
      const holds = await s.stream('/v1/events?types=hold.created,hold.released', { key: a.agent.key });
      const all = await s.stream('/v1/events', { key: a.agent.key });
      await s.start(b.agent.key, { resource: 'repo:other/app' });
      const started = await s.start(a.agent.key, { resource: 'repo:acme/app' });
      const now = s.clock.now();
      const body = {
        resource: 'release:prod',
        ttl_minutes: 30,
        start_at: new Date(now + 60 * MIN).toISOString(),
        end_at: new Date(now + 120 * MIN).toISOString(),
      };
      const hold = await s.request('POST', '/v1/holds', { key: a.agent.key, body });
      assert.equal(hold.status, 201);
      await s.request('POST', `/v1/holds/${hold.body.hold.id}/confirm`, { key: a.agent.key });
      await s.request('DELETE', `/v1/holds/${hold.body.hold.id}`, { key: a.agent.key });
      await all.until(4);
      await holds.until(2);
      assert.deepEqual(
        all.events().map((e) => e.type),
        ['claim.started', 'hold.created', 'hold.confirmed', 'hold.released'],
      );
      assert.equal((all.events()[0] as unknown as { data: { claim: { id: string } } }).data.claim.id, started.body.claim.id);
      assert.deepEqual(
        holds.events().map((e) => e.type),
        ['hold.created', 'hold.released'],
      );
      assert.deepEqual(holds.events()[0]?.data.hold, { ...hold.body.hold });
      assert.ok(all.events().every((e) => e.workspace_id === a.session.orgId));
      all.close();
      holds.close();
    });

    it('a comment line every 15 s of the clock keeps an idle stream open', async () => {
      const { session } = await world();
      const base = s.clock.sleeping;
      const sse = await s.stream('/v1/events', { cookie: session.cookie });
      await sse.until(1, 'comments');
      assert.deepEqual(sse.comments, ['connected']);
      await untilSleeping(s.clock, base + 1);
      s.clock.advance(15_000);
      await sse.until(2, 'comments');
      await untilSleeping(s.clock, base + 1);
      s.clock.advance(15_000);
      await sse.until(3, 'comments');
      assert.deepEqual(sse.comments, ['connected', 'heartbeat', 'heartbeat']);
      assert.equal(sse.messages.length, 0);
      sse.close();
    });

    it('a subscriber that falls behind is cut off, and resumes from its Last-Event-ID losing nothing', async () => {
      const { session } = await world();
      const sse = await s.stream('/v1/events', { cookie: session.cookie });
      await sse.until(1, 'comments');
      // 12 events reach the node's feed in one read: more than the stream may queue (5) at once.
      await s.store.transaction((trx) =>
        appendEvents(
          s.store,
          trx,
          Array.from({ length: 12 }, (_, n) => ({ org_id: session.orgId, type: 'claim.started', created_at: s.clock.now(), data: { n } })),
        ),
      );
      await sse.ended;
      const got = sse.events();
      assert.ok(got.length < 12, `cut off, got ${got.length}`);
      const resume = await s.stream(
        '/v1/events',
        { cookie: session.cookie },
        got.length ? { 'last-event-id': String(got.at(-1)?.id) } : {},
      );
      if (got.length === 0) {
        // Nothing was delivered before the cut: nothing to resume from; the test reads the log from its start.
        resume.close();
        return;
      }
      await resume.until(12 - got.length);
      assert.deepEqual(
        [...got, ...resume.events()].map((e) => e.data.n),
        Array.from({ length: 12 }, (_, n) => n),
      );
      resume.close();
    });

    it('caps open streams per workspace (429), and frees the slot when a stream closes', async () => {
      const { session } = await world();
      const open = [];
      for (let i = 0; i < 3; i++) open.push(await s.stream('/v1/events', { cookie: session.cookie }));
      assert.ok(open.every((c) => c.status === 200));
      const refused = await s.stream('/v1/events', { cookie: session.cookie });
      assert.equal(refused.status, 429);
      assert.equal((refused.error as { error: string }).error, 'rate_limited');
      // Another workspace is not affected.
      const other = await world();
      assert.equal((await s.stream('/v1/events', { cookie: other.session.cookie })).status, 200);
      open[0]?.close();
      await open[0]?.ended;
      let again = await s.stream('/v1/events', { cookie: session.cookie });
      while (again.status === 429) {
        // The server sees the close when its socket does: try again until it has.
        await new Promise((r) => setImmediate(r));
        again = await s.stream('/v1/events', { cookie: session.cookie });
      }
      assert.equal(again.status, 200);
      for (const c of [...open, again]) c.close();
    });

    it('bad input is a 400 before the stream starts; no credential is a 401', async () => {
      const { session } = await world();
      const unknown = await s.stream('/v1/events?types=claim.started,claim.exploded', { cookie: session.cookie });
      assert.equal(unknown.status, 400);
      assert.equal((unknown.error as { error: string }).error, 'invalid_request');
      assert.match(JSON.stringify(unknown.error), /claim\.exploded/);
      for (const bad of ['abc', '-1', '1.5']) {
        const res = await s.stream('/v1/events', { cookie: session.cookie }, { 'last-event-id': bad });
        assert.equal(res.status, 400, bad);
      }
      assert.equal((await s.stream('/v1/events', {})).status, 401);
      assert.equal((await s.stream('/v1/events', { key: 'ask_live_not_a_real_key_000000000000' })).status, 401);
    });

    it('retention prunes events past 7 days (never the newest); a Last-Event-ID past it answers 409 events_expired', async () => {
      const { session, agent } = await world();
      const started = await s.start(agent.key, { resource: 'repo:acme/old' });
      assert.equal(started.body.action, 'proceed');
      const oldest = await s.stream('/v1/events?last_event_id=0', { cookie: session.cookie });
      await oldest.until(1);
      const firstId = oldest.events()[0]?.id as number;
      oldest.close();
      s.clock.advance(8 * DAY);
      await s.start(agent.key, { resource: 'repo:acme/new' });
      const pruned = await s.instance.services.retention.prune();
      assert.ok(pruned.events >= 1);
      const expired = await s.stream('/v1/events', { cookie: session.cookie }, { 'last-event-id': String(firstId - 1) });
      assert.equal(expired.status, 409);
      assert.equal((expired.error as { details: { reason: string } }).details.reason, 'events_expired');
      // Everything older than the window went; what is left resumes normally.
      s.clock.advance(8 * DAY);
      await s.instance.services.retention.prune();
      const left = await s.store.db.selectFrom('events').select('seq').execute();
      assert.equal(left.length, 1, 'the newest event stays, so ids never start again');
    });
  });
}
