/**
 * Every SDK method against a real server over HTTP. The calls whose behaviour lives in storage (start,
 * skip, idempotent replay, extend, finish, working sets, withClaim's lease handling) run on every store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { aborted, type LiveServer, MIN, STORES, startServer } from '@availsync/testkit';
import { AvailsyncError, createAvailsyncClient, type FetchLike } from '../src/index.js';

const realFetch = globalThis.fetch as unknown as FetchLike;

for (const kind of STORES) {
  describe(`SDK work calls against a real server (${kind})`, () => {
    let t: LiveServer;
    before(async () => {
      t = await startServer(kind);
    });
    after(async () => {
      await t.close();
    });

    const client = (agent: { id: string; key: string }, extra: Record<string, unknown> = {}) =>
      createAvailsyncClient({ apiKey: agent.key, agentId: agent.id, baseUrl: t.url, ...extra });

    it('start → skip_run for another agent → check → get → extend → finish → already_finished', async () => {
      const ws = await t.workspace({ name: 'codex-nightly' });
      const other = await ws.other();
      const a = client(ws.agent);
      const b = client(other);

      const started = await a.work.start({ resource: 'repo:owner/repo', reason: 'long-running agent run', durationMinutes: 45 });
      assert.equal(started.action, 'proceed');
      assert.equal(started.mode, 'enforce');
      assert.ok(started.claim);
      assert.match(started.claim.id, /^clm_/);
      assert.equal(started.claim.reason, 'long-running agent run');
      assert.match(started.claim.idempotency_key ?? '', /^avs-node-/, 'the SDK sends an Idempotency-Key when none is given');

      const skipped = await b.work.start({ resource: 'repo:owner/repo' });
      assert.equal(skipped.action, 'skip_run');
      assert.equal(skipped.reason, 'Another active work claim of equal priority holds this resource until it ends');
      assert.equal(skipped.retry_after, started.claim.expires_at);
      assert.equal(skipped.blocking_claim?.id, started.claim.id);
      assert.equal(skipped.blocking_claim?.agent_name, 'codex-nightly');

      const check = await b.work.check({ resource: 'repo:owner/repo' });
      assert.equal(check.available, false);
      assert.equal(check.action, 'skip_run');
      assert.equal(check.blocking_claim?.id, started.claim.id);
      const free = await b.work.check({ resource: 'repo:owner/other' });
      assert.equal(free.available, true);

      const got = await b.work.get(started.claim.id);
      assert.equal(got.claim.status, 'active', 'an agent may poll the claim that blocked it');

      t.clock.advance(10 * MIN);
      const extended = await a.work.extend(started.claim.id, { durationMinutes: 45 });
      assert.equal(extended.action, 'extended');
      assert.equal(extended.claim.renewal_count, 1);
      assert.ok(Date.parse(extended.claim.expires_at) > Date.parse(started.claim.expires_at));

      const finished = await a.work.finish(started.claim.id, { outcome: 'finished' });
      assert.equal(finished.action, 'finished');
      assert.equal(finished.claim.status, 'released');
      assert.equal(finished.claim.outcome, 'finished');
      const again = await a.work.finish(started.claim.id);
      assert.equal(again.action, 'already_finished');

      const late = await a.work.extend(started.claim.id).catch((e: unknown) => e);
      assert.ok(late instanceof AvailsyncError);
      assert.equal(late.kind, 'conflict');
      assert.equal(late.code, 'claim_not_active');
      assert.equal(late.status, 409);
      assert.equal(late.body?.status, 'released');
      assert.match(late.requestId ?? '', /^req_/);
    });

    it('the same idempotencyKey replays the first answer instead of creating a second claim', async () => {
      const ws = await t.workspace();
      const a = client(ws.agent);
      const key = `codex-owner-repo-${Date.now()}`;
      const first = await a.work.start({ resource: 'repo:owner/idem', idempotencyKey: key, durationMinutes: 45 });
      const second = await a.work.start({ resource: 'repo:owner/idem', idempotencyKey: key, durationMinutes: 45 });
      assert.equal(first.action, 'proceed');
      assert.deepEqual(second, first);
      const list = await a.work.list({ resource: 'repo:owner/idem' });
      assert.equal(list.pagination.total, 1);
      const reused = await a.work.start({ resource: 'repo:owner/idem', idempotencyKey: key, durationMinutes: 30 }).catch((e: unknown) => e);
      assert.ok(reused instanceof AvailsyncError);
      assert.equal(reused.code, 'idempotency_key_reused');
      assert.equal(reused.kind, 'validation');
      assert.equal(reused.status, 422);
    });

    it('working sets: updated, partial_proceed, and blocked returned (not thrown); list shows them', async () => {
      const ws = await t.workspace();
      const other = await ws.other();
      const a = client(ws.agent);
      const b = client(other);
      const pa = await a.work.start({ resource: 'project:front' });
      const pb = await b.work.start({ resource: 'project:back' });
      assert.ok(pa.action === 'proceed' && pa.claim && pb.action === 'proceed' && pb.claim);

      const updated = await a.work.updateWorkingSet(pa.claim.id, {
        resource: 'repo:owner/repo',
        mode: 'edit',
        paths: ['frontend/components/Hero.tsx', 'frontend/app/page.tsx'],
        leaseSeconds: 600,
      });
      assert.equal(updated.action, 'updated');
      assert.equal(updated.working_set.length, 2);

      const partial = await b.work.updateWorkingSet(pb.claim.id, {
        resource: 'repo:owner/repo',
        paths: ['frontend/app/page.tsx', 'backend/api.ts'],
      });
      assert.equal(partial.action, 'partial_proceed');
      assert.ok(partial.action === 'partial_proceed');
      assert.deepEqual(partial.blocked_paths, ['frontend/app/page.tsx']);
      assert.deepEqual(partial.claimed_paths, ['backend/api.ts']);

      const blocked = await b.work.updateWorkingSet(pb.claim.id, { resource: 'repo:owner/repo', paths: ['frontend/**'] });
      assert.equal(blocked.action, 'blocked');
      assert.ok(blocked.action === 'blocked');
      assert.equal(blocked.blocking[0]?.claim_id, pa.claim.id);

      const extended = await a.work.extend(pa.claim.id, {
        workingSet: { resource: 'repo:owner/repo', paths: ['frontend/app/page.tsx'], mode: 'edit' },
      });
      assert.equal(extended.working_set?.action, 'updated');

      const mine = await a.work.list({ status: 'active' });
      assert.equal(mine.data.length, 1);
      assert.deepEqual(
        mine.data[0]?.working_set.map((f) => f.path),
        ['frontend/app/page.tsx'],
      );
      const released = await a.work.release(pa.claim.id);
      assert.equal(released.action, 'released');
      assert.equal((await a.work.release(pa.claim.id)).action, 'already_released');
      const resources = await a.work.resources({ limit: 10 });
      assert.ok(resources.data.some((r) => r.resource === 'project:front'));
    });

    it('withClaim: proceed runs the callback with a live claim, then finishes in finally', async () => {
      const ws = await t.workspace();
      const a = client(ws.agent);
      let seen: { id: string; token: number; status: string } | undefined;
      const result = await a.work.withClaim(
        'repo:owner/with',
        { reason: 'coding-agent run', durationMinutes: 45 },
        async ({ claim, shadow }) => {
          assert.ok(claim);
          assert.equal(shadow.enabled, false);
          assert.equal(shadow.wouldHaveBlocked, false);
          const ws1 = await claim.updateWorkingSet({ mode: 'edit', paths: ['src/a.ts'], leaseSeconds: 600 });
          assert.equal(ws1.action, 'updated');
          seen = { id: claim.id, token: claim.fencingToken, status: (await a.work.get(claim.id)).claim.status };
          return 42;
        },
      );
      assert.equal(result.action, 'proceed');
      assert.ok(result.action === 'proceed');
      assert.equal(result.result, 42);
      assert.equal(result.outcome, 'finished');
      assert.equal(result.finishError, undefined);
      assert.equal(result.autoExtendError, undefined);
      assert.equal(seen?.status, 'active');
      assert.equal(result.claim?.id, seen?.id);
      assert.equal(result.claim?.status, 'released');
      assert.equal(result.claim?.outcome, 'finished');
    });

    it('withClaim: skip_run never calls the callback and reports who holds the resource', async () => {
      const ws = await t.workspace({ name: 'holder' });
      const other = await ws.other();
      const holder = await client(ws.agent).work.start({ resource: 'repo:owner/busy', reason: 'nightly' });
      assert.ok(holder.action === 'proceed' && holder.claim);
      let called = false;
      const result = await client(other).work.withClaim('repo:owner/busy', { reason: 'review' }, async () => {
        called = true;
      });
      assert.equal(called, false);
      assert.equal(result.action, 'skip_run');
      assert.ok(result.action === 'skip_run');
      assert.equal(result.reason, 'Another active work claim of equal priority holds this resource until it ends');
      assert.equal(result.retryAfter, holder.claim.expires_at);
      assert.equal(result.blockingClaim?.id, holder.claim.id);
      assert.equal(result.blockingClaim?.agent_name, 'holder');
    });

    it('withClaim: a throwing callback finishes the claim as error and rethrows the same error', async () => {
      const ws = await t.workspace();
      const a = client(ws.agent);
      let id = '';
      const boom = new Error('codex exited with 1');
      await assert.rejects(
        a.work.withClaim('repo:owner/throws', {}, async ({ claim }) => {
          id = claim?.id ?? '';
          throw boom;
        }),
        (err) => err === boom,
      );
      const after = await a.work.get(id);
      assert.equal(after.claim.status, 'released');
      assert.equal(after.claim.outcome, 'error');
    });

    it('withClaim: setOutcome overrides finished/error', async () => {
      const ws = await t.workspace();
      const a = client(ws.agent);
      const result = await a.work.withClaim('repo:owner/noop', {}, async ({ setOutcome }) => {
        setOutcome('noop', 'nothing to do');
      });
      assert.ok(result.action === 'proceed');
      assert.equal(result.outcome, 'noop');
      assert.equal(result.claim?.outcome, 'noop');
    });

    it('withClaim: an idempotencyKey that already ran is not run again', async () => {
      const ws = await t.workspace();
      const a = client(ws.agent);
      const key = `github-${Date.now()}`;
      let runs = 0;
      const first = await a.work.withClaim('repo:owner/once', { idempotencyKey: key, durationMinutes: 45 }, async () => {
        runs += 1;
        // A second invocation while the first is still running: the run already started.
        const concurrent = await a.work.withClaim('repo:owner/once', { idempotencyKey: key, durationMinutes: 45 }, async () => {
          runs += 1;
        });
        assert.equal(concurrent.action, 'skip_run');
        assert.ok(concurrent.action === 'skip_run');
        assert.equal(concurrent.alreadyStarted?.status, 'active');
        assert.ok(concurrent.retryAfter);
      });
      assert.equal(first.action, 'proceed');
      const replay = await a.work.withClaim('repo:owner/once', { idempotencyKey: key, durationMinutes: 45 }, async () => {
        runs += 1;
      });
      assert.equal(runs, 1);
      assert.ok(replay.action === 'skip_run');
      assert.equal(replay.alreadyStarted?.status, 'released');
      assert.equal(replay.retryAfter, null);
      assert.match(replay.reason, /already ran/);
    });

    it('withClaim: auto-extends while the callback runs, refreshing the working set', async () => {
      const ws = await t.workspace();
      let extends_ = 0;
      let wake: (() => void) | undefined;
      const counting: FetchLike = async (url, init) => {
        const res = await realFetch(url, init);
        if (url.endsWith('/v1/work/run/extend') && res.status === 200) {
          extends_ += 1;
          wake?.();
        }
        return res;
      };
      const a = client(ws.agent, { fetch: counting });
      const result = await a.work.withClaim(
        'repo:owner/auto',
        {
          durationMinutes: 45,
          autoExtendIntervalMs: 5,
          autoExtendDurationMinutes: 45,
          autoExtendWorkingSet: { resource: 'repo:owner/auto', mode: 'edit', paths: ['frontend/app/page.tsx'], leaseSeconds: 600 },
        },
        async ({ claim }) => {
          while (extends_ < 3) await new Promise<void>((r) => (wake = r));
          return claim?.current.renewal_count;
        },
      );
      assert.ok(result.action === 'proceed');
      assert.ok((result.result ?? 0) >= 2, 'the handle shows the latest extend');
      assert.ok((result.claim?.renewal_count ?? 0) >= 3);
      assert.equal(result.autoExtendError, undefined);
      assert.equal(result.claim?.status, 'released');
    });

    it('withClaim: preemption aborts the callback signal (lease lost) and is reported', async () => {
      const ws = await t.workspace({ priority: 100 });
      const high = await ws.other({ name: 'hotfix', priority: 500 });
      const a = client(ws.agent);
      const result = await a.work.withClaim(
        'repo:owner/preempt',
        { durationMinutes: 45, autoExtendIntervalMs: 5 },
        async ({ signal, claim }) => {
          const pre = await client(high).work.start({ resource: 'repo:owner/preempt', preempt: true });
          assert.equal(pre.action, 'proceed');
          // aborted(): the auto-extend (every 5 ms) may have met the preemption while the start was awaited.
          const reason = await aborted(signal);
          assert.ok(reason instanceof AvailsyncError);
          assert.equal(reason.code, 'lease_lost');
          assert.equal(reason.details?.status, 'preempted');
          assert.equal(claim?.lost, true);
          return 'stopped';
        },
      );
      assert.ok(result.action === 'proceed');
      assert.equal(result.result, 'stopped');
      assert.equal(result.leaseLost?.code, 'lease_lost');
      assert.ok(result.autoExtendError instanceof AvailsyncError);
      assert.equal((result.autoExtendError as AvailsyncError).code, 'claim_not_active');
      assert.equal(result.claim?.status, 'preempted', 'finish answers already_finished with the preempted claim');
    });

    it('withClaim: an expired lease (server clock moved past it) aborts the signal', async () => {
      const ws = await t.workspace();
      const a = client(ws.agent);
      const result = await a.work.withClaim('repo:owner/expire', { durationMinutes: 5, autoExtendIntervalMs: 5 }, async ({ signal }) => {
        t.clock.advance(6 * MIN);
        await aborted(signal);
        return (signal.reason as AvailsyncError).details?.status;
      });
      assert.ok(result.action === 'proceed');
      assert.equal(result.result, 'expired');
      assert.equal(result.claim?.status, 'expired');
    });
  });
}

describe('SDK against a real server (sqlite): observe mode, agent, errors, finishError/autoExtendError', () => {
  let t: LiveServer;
  before(async () => {
    t = await startServer('sqlite');
  });
  after(async () => {
    await t.close();
  });

  it('observe mode: proceeds with claim null and the shadow decision; withClaim passes shadow metadata', async () => {
    const ws = await t.workspace({ name: 'holder' });
    const observer = await ws.other({ name: 'observer', mode: 'observe' });
    const holder = await createAvailsyncClient({ apiKey: ws.agent.key, baseUrl: t.url }).work.start({ resource: 'repo:owner/obs' });
    assert.ok(holder.action === 'proceed' && holder.claim);
    const o = createAvailsyncClient({ apiKey: observer.key, agentId: observer.id, baseUrl: t.url });

    const started = await o.work.start({ resource: 'repo:owner/obs' });
    assert.equal(started.action, 'proceed');
    assert.ok(started.action === 'proceed' && started.mode === 'observe');
    assert.equal(started.shadow_mode, true);
    assert.equal(started.would_have_blocked, true);
    assert.equal(started.claim, null);
    assert.equal(started.shadow_decision.blocking_claim?.id, holder.claim.id);

    const result = await o.work.withClaim('repo:owner/obs', { reason: 'observe' }, async ({ claim, shadow }) => {
      assert.equal(claim, null);
      return shadow;
    });
    assert.ok(result.action === 'proceed');
    assert.equal(result.claim, null);
    assert.equal(result.outcome, null);
    assert.deepEqual(result.result, {
      enabled: true,
      wouldHaveBlocked: true,
      decision: {
        action: 'skip_run',
        reason: 'Another active work claim of equal priority holds this resource until it ends',
        blocking_claim: started.shadow_decision.blocking_claim,
      },
    });
    const free = await o.work.withClaim('repo:owner/obs-free', {}, async ({ shadow }) => shadow.wouldHaveBlocked);
    assert.ok(free.action === 'proceed');
    assert.equal(free.result, false);
  });

  it('agent.me returns the calling agent and its effective mode', async () => {
    const ws = await t.workspace({ name: 'codex-nightly', agent_type: 'coding' });
    const me = await createAvailsyncClient({ apiKey: ws.agent.key, baseUrl: t.url }).agent.me();
    assert.equal(me.agent.id, ws.agent.id);
    assert.equal(me.agent.name, 'codex-nightly');
    assert.equal(me.agent.effective_mode, 'enforce');
  });

  it('AvailsyncError: auth and validation errors carry kind, code, status, request id, and never the key', async () => {
    const ws = await t.workspace();
    const unknownKey = `avs_live_${'x'.repeat(43)}`;
    for (const key of [unknownKey, ws.agent.key]) {
      const c = createAvailsyncClient({ apiKey: key, agentId: key === unknownKey ? 'agt_nope' : 'agt_other', baseUrl: t.url });
      const err = await c.work.start({ resource: 'repo:owner/x' }).catch((e: unknown) => e);
      assert.ok(err instanceof AvailsyncError);
      assert.equal(err.kind, 'auth');
      assert.equal(err.code, key === unknownKey ? 'unauthorized' : 'forbidden');
      assert.equal(err.status, key === unknownKey ? 401 : 403);
      assert.match(err.requestId ?? '', /^req_/);
      for (const text of [JSON.stringify(err), inspect(err, { depth: 10, showHidden: true }), String(err), err.stack ?? '']) {
        assert.ok(!text.includes(key), 'the error never contains the key');
      }
    }
    const c = createAvailsyncClient({ apiKey: ws.agent.key, baseUrl: t.url });
    const bad = await c.work.start({ resource: 'repo:not a repo' }).catch((e: unknown) => e);
    assert.ok(bad instanceof AvailsyncError);
    assert.equal(bad.kind, 'validation');
    assert.equal(bad.code, 'invalid_request');
    assert.ok(bad.details?.resource);
    const missing = await c.work.get('clm_missing').catch((e: unknown) => e);
    assert.ok(missing instanceof AvailsyncError);
    assert.equal(missing.code, 'not_found');
    assert.equal(missing.kind, 'api');
  });

  it('AvailsyncError kind plan_limit: a start beyond the free plan active-claim limit is 402 with the limit', async () => {
    const free = await startServer('sqlite', { defaultPlan: 'free' });
    try {
      const ws = await free.workspace();
      const a = createAvailsyncClient({ apiKey: ws.agent.key, baseUrl: free.url });
      let err: unknown;
      for (let i = 0; i < 10 && err === undefined; i++) {
        err = await a.work.start({ resource: `repo:owner/plan-${i}` }).then(
          () => undefined,
          (e: unknown) => e,
        );
      }
      assert.ok(err instanceof AvailsyncError, 'the free plan refuses a start at some point');
      assert.equal(err.kind, 'plan_limit');
      assert.equal(err.code, 'plan_limit_reached');
      assert.equal(err.status, 402);
      assert.equal(err.details?.limit, 'active_claims');
      assert.equal(err.details?.plan, 'free');
    } finally {
      await free.close();
    }
  });

  it('createAvailsyncClient refuses a missing key with a clear message', () => {
    assert.throws(
      () => createAvailsyncClient({ apiKey: undefined as unknown as string, baseUrl: t.url }),
      (e: unknown) => e instanceof AvailsyncError && e.code === 'missing_api_key' && /AVAILSYNC_API_KEY/.test(e.message),
    );
  });

  it('finishError: the work succeeded but the finish failed → returned beside the result, not thrown', async () => {
    const ws = await t.workspace();
    const failFinish: FetchLike = async (url, init) => {
      if (url.endsWith('/v1/work/run/finish')) throw new TypeError('fetch failed');
      return realFetch(url, init);
    };
    const a = createAvailsyncClient({ apiKey: ws.agent.key, baseUrl: t.url, fetch: failFinish, maxRetries: 0 });
    const result = await a.work.withClaim('repo:owner/finish-fails', {}, async () => 'done');
    assert.ok(result.action === 'proceed');
    assert.equal(result.result, 'done');
    assert.ok(result.finishError instanceof AvailsyncError);
    assert.equal((result.finishError as AvailsyncError).kind, 'network');
    assert.equal(result.claim?.status, 'active', 'the last claim seen: the lease ends at its expiry');
  });

  it('autoExtendError: an extend failed while the work went on → returned with the result', async () => {
    const ws = await t.workspace();
    let failures = 0;
    let wake: (() => void) | undefined;
    const failExtend: FetchLike = async (url, init) => {
      if (url.endsWith('/v1/work/run/extend')) {
        failures += 1;
        wake?.();
        return new Response(JSON.stringify({ error: 'internal_error', message: 'boom', request_id: 'req_x' }), { status: 500 });
      }
      return realFetch(url, init);
    };
    const a = createAvailsyncClient({ apiKey: ws.agent.key, baseUrl: t.url, fetch: failExtend, maxRetries: 0 });
    const result = await a.work.withClaim(
      'repo:owner/extend-fails',
      { durationMinutes: 45, autoExtendIntervalMs: 5 },
      async ({ signal }) => {
        while (failures < 2) await new Promise<void>((r) => (wake = r));
        return signal.aborted;
      },
    );
    assert.ok(result.action === 'proceed');
    assert.equal(result.result, false, 'a failed extend alone does not abort: the lease is still within its end');
    assert.ok(result.autoExtendError instanceof AvailsyncError);
    assert.equal((result.autoExtendError as AvailsyncError).code, 'internal_error');
    assert.equal(result.leaseLost, undefined);
    assert.equal(result.claim?.status, 'released');
  });

  it('withClaim rejects an auto-extend interval as long as the lease', async () => {
    const ws = await t.workspace();
    const a = createAvailsyncClient({ apiKey: ws.agent.key, baseUrl: t.url });
    await assert.rejects(
      a.work.withClaim('repo:owner/x', { durationMinutes: 1, autoExtendIntervalMs: 60_000 }, async () => {}),
      (e: unknown) => e instanceof AvailsyncError && e.kind === 'validation',
    );
  });
});
