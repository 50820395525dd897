/**
 * Holds, availability, conflicts, usage and the MCP heartbeat through the SDK, against a real server (the
 * request shapes are also covered against a scripted server in transport.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type LiveServer, startServer } from '@availsync/testkit';
import { AvailsyncError, createAvailsyncClient } from '../src/index.js';

describe('SDK holds, availability, conflicts, usage, heartbeat (sqlite, real HTTP)', () => {
  let t: LiveServer;
  before(async () => {
    t = await startServer('sqlite');
  });
  after(async () => {
    await t.close();
  });

  it('holds.create → conflict → availability → conflicts.check → list → release', async () => {
    const ws = await t.workspace();
    const other = await ws.other();
    const a = createAvailsyncClient({ apiKey: ws.agent.key, agentId: ws.agent.id, baseUrl: t.url });
    const b = createAvailsyncClient({ apiKey: other.key, baseUrl: t.url });
    const day = new Date(t.clock.now() + 24 * 3600_000);
    day.setUTCHours(10, 0, 0, 0);
    const at = (h: number) => new Date(day.getTime() + h * 3600_000);

    const created = await a.holds.create({ resource: 'release:prod', startAt: at(0), endAt: at(1), reason: 'release window' });
    assert.match(created.hold.id, /^hld_/);
    assert.equal(created.hold.status, 'active');
    assert.equal(created.hold.start_at, at(0).toISOString());
    assert.match(created.hold.idempotency_key ?? '', /^avs-node-/);
    assert.equal((await a.holds.get(created.hold.id)).hold.id, created.hold.id);

    const clash = await b.holds.create({ resource: 'release:prod', startAt: at(0.5), endAt: at(1.5) }).catch((e: unknown) => e);
    assert.ok(clash instanceof AvailsyncError);
    assert.equal(clash.kind, 'conflict');
    assert.equal(clash.code, 'hold_conflict');
    assert.equal((clash.body?.conflicts as { id: string }[] | undefined)?.[0]?.id, created.hold.id);
    assert.ok(clash.body?.next_free_slot);

    const avail = await b.availability.get({ resource: 'release:prod', from: at(0), to: at(4), durationMinutes: 60 });
    assert.equal(avail.busy.length, 1);
    assert.equal(avail.busy[0]?.hold_id, created.hold.id);
    assert.deepEqual(avail.first_free_slot, { start_at: at(1).toISOString(), end_at: at(2).toISOString() });

    const check = await b.conflicts.check({ resource: 'release:prod', startAt: at(0.5), endAt: at(1.5) });
    assert.equal(check.conflict, true);
    assert.equal(check.conflicts[0]?.id, created.hold.id);
    const ok = await b.conflicts.check({ resource: 'release:prod', startAt: at(2), endAt: at(3) });
    assert.equal(ok.conflict, false);

    const listed = await b.holds.list({ resource: 'release:prod', status: 'active' });
    assert.equal(listed.data.length, 1);

    const tentative = await b.holds.create({ resource: 'release:prod', startAt: at(2), endAt: at(3), ttlMinutes: 30 });
    assert.ok(tentative.hold.expires_at);
    const confirmed = await b.holds.confirm(tentative.hold.id);
    assert.equal(confirmed.action, 'confirmed');
    assert.equal(confirmed.hold.expires_at, null);

    assert.equal((await a.holds.release(created.hold.id)).action, 'released');
    assert.equal((await a.holds.release(created.hold.id)).action, 'already_released');
  });

  it('activity.reportUsage records usage (idempotent with the same key); mcp.heartbeat sets the agent online', async () => {
    const ws = await t.workspace();
    const a = createAvailsyncClient({ apiKey: ws.agent.key, baseUrl: t.url });
    const started = await a.work.start({ resource: 'repo:owner/usage' });
    assert.ok(started.action === 'proceed' && started.claim);
    const params = {
      claimId: started.claim.id,
      model: 'gpt-5-codex',
      inputTokens: 1200,
      outputTokens: 300,
      costUsd: 0.02,
      idempotencyKey: 'run-1',
    };
    const first = await a.activity.reportUsage(params);
    assert.equal(first.usage.claim_id, started.claim.id);
    assert.equal(first.usage.input_tokens, 1200);
    const replay = await a.activity.reportUsage(params);
    assert.equal(replay.usage.id, first.usage.id);

    assert.equal((await a.agent.me()).agent.online, false);
    const beat = await a.mcp.heartbeat({ client: 'availsync-mcp', version: '0.1.0' });
    assert.equal(beat.ok, true);
    assert.ok(Date.parse(beat.server_time) > 0);
    assert.equal((await a.agent.me()).agent.online, true);
  });
});
