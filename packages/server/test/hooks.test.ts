/**
 * Hooks served by the server on every store: Claude Code, Codex and Cursor payloads (shapes from
 * each client's hooks documentation, named in services/hooks/clients.ts) through the real routes. Time moves
 * only through the manual clock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, MIN, STORES, type TestServer } from '@availsync/testkit';

const ROOT = '/home/dev/acme-app';
const REPO = 'repo:acme/app';

/** A Claude Code PreToolUse payload (hooks reference, Claude Code 2.1, 2026). */
function pre(session: string, tool: string, file: string, extra: Record<string, unknown> = {}) {
  const key = tool === 'NotebookEdit' ? 'notebook_path' : 'file_path';
  return {
    session_id: session,
    transcript_path: `/home/dev/.claude/projects/acme-app/${session}.jsonl`,
    cwd: ROOT,
    permission_mode: 'default',
    hook_event_name: 'PreToolUse',
    tool_name: tool,
    tool_input: { [key]: file.startsWith('/') ? file : `${ROOT}/${file}`, old_string: 'a', new_string: 'b' },
    tool_use_id: 'toolu_01',
    ...extra,
  };
}

const event = (session: string, name: string, extra: Record<string, unknown> = {}) => ({
  session_id: session,
  transcript_path: `/home/dev/.claude/projects/acme-app/${session}.jsonl`,
  cwd: ROOT,
  hook_event_name: name,
  ...extra,
});

for (const kind of STORES) {
  describe(`hooks served by the server (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    const hook = (key: string, body: unknown, opts: { client?: string; scope?: string; resource?: string | null; wait?: string } = {}) =>
      t.request('POST', `/v1/hooks/${opts.client ?? 'claude-code'}`, {
        key,
        body,
        headers: {
          ...(opts.resource === null ? {} : { 'X-Availsync-Resource': opts.resource ?? REPO }),
          'X-Availsync-Project-Dir': ROOT,
          ...(opts.scope ? { 'X-Availsync-Scope': opts.scope } : {}),
          // No queue wait unless a test asks (the clock is a ManualClock: a wait only ends when advanced).
          'X-Availsync-Wait': opts.wait ?? '0',
        },
      });
    const decision = (res: { body: any }) => res.body.hookSpecificOutput?.permissionDecision;
    const reason = (res: { body: any }) => res.body.hookSpecificOutput?.permissionDecisionReason as string;
    const active = async (key: string) => (await t.request('GET', '/v1/work/claims?status=active', { key })).body.data;

    it('repo scope: claims the file in the session run; another session is denied naming the holder, the path and when to retry', async () => {
      const ws = await t.workspace({ name: 'claude-alice' });
      const bob = await t.createAgent(ws.session, { name: 'claude-bob' });
      const first = await hook(ws.key, pre('sess-a', 'Edit', 'src/a.ts'));
      assert.equal(first.status, 200);
      assert.equal(first.body.hookSpecificOutput.hookEventName, 'PreToolUse');
      assert.equal(decision(first), 'allow');
      assert.equal((await hook(ws.key, pre('sess-a', 'Write', 'src/b.ts'))).body.hookSpecificOutput.permissionDecision, 'allow');
      assert.equal(decision(await hook(ws.key, pre('sess-a', 'NotebookEdit', 'nb/x.ipynb'))), 'allow');
      const runs = await active(ws.key);
      assert.equal(runs.length, 1, 'one run per session');
      assert.equal(runs[0].resource, REPO);
      assert.equal(runs[0].reason, 'Claude Code session sess-a');
      assert.deepEqual(
        runs[0].working_set.map((f: any) => f.path),
        ['nb/x.ipynb', 'src/a.ts', 'src/b.ts'],
      );

      const denied = await hook(bob.key, pre('sess-b', 'Edit', 'src/c.ts'));
      assert.equal(denied.status, 200);
      assert.equal(decision(denied), 'deny');
      assert.match(
        reason(denied),
        new RegExp(
          `^Availsync: repo:acme/app is being worked on by claude-alice \\(${ws.agent.id}\\), run ${runs[0].id} "Claude Code session sess-a", until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC\\. .*retry after`,
        ),
      );
      // Tools that do not edit, and other events, say nothing.
      assert.deepEqual((await hook(bob.key, pre('sess-b', 'Read', 'src/a.ts'))).body, {});
      assert.deepEqual((await hook(bob.key, event('sess-b', 'UserPromptSubmit', { prompt: 'hi' }))).body, {});
      // A path outside the project is not the repository's: allowed, nothing claimed.
      const outside = await hook(bob.key, pre('sess-b', 'Write', '/tmp/elsewhere.txt'));
      assert.equal(decision(outside), 'allow');
      assert.equal((await active(bob.key)).length, 0);
    });

    it('X-Availsync-Wait: a held repository is waited for before denying; a finish in time allows', async () => {
      const ws = await t.workspace({ name: 'claude-wait-a' });
      const bob = await t.createAgent(ws.session, { name: 'claude-wait-b' });
      assert.equal(decision(await hook(ws.key, pre('w-a', 'Edit', 'src/a.ts'))), 'allow');
      const [run] = await active(ws.key);
      // Times out: denied after the wait.
      const late = hook(bob.key, pre('w-b', 'Edit', 'src/c.ts'), { wait: '3' });
      for (let i = 0; i < 1000 && (await t.store.db.selectFrom('queue_waiters').select('id').execute()).length === 0; i++) {
        await new Promise((r) => setTimeout(r, 2));
      }
      t.clock.advance(3_500);
      assert.equal(decision(await late), 'deny');
      // Granted: the holder finishes while the hook waits.
      const inTime = hook(bob.key, pre('w-c', 'Edit', 'src/c.ts'), { wait: '5' });
      for (let i = 0; i < 1000 && (await t.store.db.selectFrom('queue_waiters').select('id').execute()).length === 0; i++) {
        await new Promise((r) => setTimeout(r, 2));
      }
      await t.request('POST', '/v1/work/run/finish', { key: ws.key, body: { claim_id: run.id } });
      assert.equal(decision(await inTime), 'allow');
      const bad = await hook(bob.key, pre('w-d', 'Edit', 'src/d.ts'), { wait: '11' });
      assert.equal(bad.status, 400);
    });

    it('files scope: sessions conflict only on the files they touch', async () => {
      const ws = await t.workspace({ name: 'files-a' });
      const b = await t.createAgent(ws.session, { name: 'files-b' });
      const res = `repo:acme/files-${kind}`;
      assert.equal(decision(await hook(ws.key, pre('s1', 'Edit', 'src/a.ts'), { scope: 'files', resource: res })), 'allow');
      assert.equal(decision(await hook(b.key, pre('s2', 'Edit', 'src/b.ts'), { scope: 'files', resource: res })), 'allow');
      const denied = await hook(b.key, pre('s2', 'Edit', 'src/a.ts'), { scope: 'files', resource: res });
      assert.equal(decision(denied), 'deny');
      const [mine] = await active(ws.key);
      assert.match(mine.resource, new RegExp(`^project:session/${ws.agent.id}/[0-9a-f]{16}$`));
      assert.match(
        reason(denied),
        new RegExp(
          `^Availsync: src/a\\.ts is held by files-a \\(${ws.agent.id}\\), run ${mine.id}, until .* UTC\\. Do not edit src/a\\.ts now: work on other files, or retry after .* UTC\\.$`,
        ),
      );
      assert.equal(mine.working_set[0].resource, res);
    });

    it('two PreToolUse calls of one session at once start one run', async () => {
      const ws = await t.workspace({ name: 'racer' });
      const results = await Promise.all(
        ['src/a.ts', 'src/b.ts', 'src/c.ts', 'src/d.ts'].map((f) =>
          hook(ws.key, pre('race', 'Edit', f), { resource: `repo:acme/race-${kind}` }),
        ),
      );
      for (const r of results) assert.equal(decision(r), 'allow', JSON.stringify(r.body));
      const runs = await active(ws.key);
      assert.equal(runs.length, 1);
      assert.equal(runs[0].working_set.length, 4);
    });

    it('SessionStart lists active runs and held paths; PostToolUse renews near the end; SessionEnd finishes', async () => {
      const ws = await t.workspace({ name: 'long' });
      const other = await t.createAgent(ws.session, { name: 'neighbour' });
      const res = `repo:acme/long-${kind}`;
      assert.equal(decision(await hook(other.key, pre('n', 'Edit', 'src/held.ts'), { scope: 'files', resource: res })), 'allow');
      const start = await hook(ws.key, event('long', 'SessionStart', { source: 'startup' }), { scope: 'files', resource: res });
      const ctx = start.body.hookSpecificOutput;
      assert.equal(ctx.hookEventName, 'SessionStart');
      assert.match(
        ctx.additionalContext,
        new RegExp(`Files held .*\\n- src/held\\.ts \\(edit\\) by neighbour \\(${other.id}\\), run clm_`),
      );

      assert.equal(decision(await hook(ws.key, pre('long', 'Edit', 'src/a.ts'), { resource: res })), 'allow');
      const [run] = await active(ws.key);
      const post = { ...pre('long', 'Edit', 'src/a.ts'), hook_event_name: 'PostToolUse', tool_response: { success: true } };
      assert.deepEqual((await hook(ws.key, post, { resource: res })).body, {});
      let now = (await t.request('GET', `/v1/work/claims/${run.id}`, { key: ws.key })).body.claim;
      assert.equal(now.renewal_count, 0, 'not yet close to its end');
      t.clock.advance(25 * MIN);
      assert.deepEqual((await hook(ws.key, post, { resource: res })).body, {});
      now = (await t.request('GET', `/v1/work/claims/${run.id}`, { key: ws.key })).body.claim;
      assert.equal(now.renewal_count, 1);
      assert.equal(now.working_set[0].expires_at, now.expires_at, "the file's lease follows the run's");

      const end = await hook(ws.key, event('long', 'SessionEnd', { reason: 'exit' }), { resource: res });
      assert.deepEqual(end.body, {});
      now = (await t.request('GET', `/v1/work/claims/${run.id}`, { key: ws.key })).body.claim;
      assert.equal(now.status, 'released');
      // A resumed session starts a new run.
      assert.equal(decision(await hook(ws.key, pre('long', 'Edit', 'src/a.ts'), { resource: res })), 'allow');
      const [again] = await active(ws.key);
      assert.notEqual(again.id, run.id);
    });

    it('a lost lease starts the session a new run; observe mode allows without a lease', async () => {
      const ws = await t.workspace({ name: 'lost' });
      const res = `repo:acme/lost-${kind}`;
      assert.equal(decision(await hook(ws.key, pre('l', 'Edit', 'src/a.ts'), { resource: res })), 'allow');
      const [run] = await active(ws.key);
      await t.request('POST', '/v1/work/run/finish', { key: ws.key, body: { claim_id: run.id } });
      assert.equal(decision(await hook(ws.key, pre('l', 'Edit', 'src/b.ts'), { resource: res })), 'allow');
      const [next] = await active(ws.key);
      assert.notEqual(next.id, run.id);
      assert.deepEqual(
        next.working_set.map((f: any) => f.path),
        ['src/b.ts'],
      );

      const observer = await t.createAgent(ws.session, { name: 'observer', mode: 'observe' });
      const o = await hook(observer.key, pre('o', 'Edit', 'src/b.ts'), { resource: res });
      assert.equal(decision(o), 'allow');
      assert.match(reason(o), /^observe mode: this would have been denied \(lost/);
      assert.equal((await active(observer.key)).length, 0);
    });

    it('wrong key is 401, bad JSON 400, a bad scope 400; a missing resource header denies with the reason', async () => {
      const ws = await t.workspace({ name: 'edge' });
      const wrong = await hook('avs_live_0000000000000000000000000000000000000000000', pre('x', 'Edit', 'src/a.ts'));
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.error, 'unauthorized');
      const bad = await t.request('POST', '/v1/hooks/claude-code', { key: ws.key, rawBody: '{not json' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error, 'invalid_request');
      assert.match(bad.body.request_id, /^req_/);
      const scope = await hook(ws.key, pre('x', 'Edit', 'src/a.ts'), { scope: 'everything' });
      assert.equal(scope.status, 400);
      const none = await hook(ws.key, pre('x', 'Edit', 'src/a.ts'), { resource: null });
      assert.equal(decision(none), 'deny');
      assert.match(reason(none), /no X-Availsync-Resource header/);
      assert.equal((await active(ws.key)).length, 0, 'nothing changed');
    });

    it('shell commands: the files whose git status changed since the last snapshot are claimed; a held one blocks', async () => {
      const ws = await t.workspace({ name: 'sheller' });
      const other = await t.createAgent(ws.session, { name: 'holder' });
      const res = `repo:acme/shell-${kind}`;
      assert.equal(decision(await hook(other.key, pre('h', 'Edit', 'src/held.ts'), { scope: 'files', resource: res })), 'allow');
      const bash = (name: string, status: Record<string, string>) => ({
        ...event('sh', name),
        tool_name: 'Bash',
        tool_input: { command: "sed -i 's/a/b/' src/*.ts" },
        availsync: { git_status: status },
      });
      const before = { 'src/dirty.ts': ' M:10:1' };
      assert.deepEqual((await hook(ws.key, bash('PreToolUse', before), { scope: 'files', resource: res })).body, {});
      const blocked = await hook(ws.key, bash('PostToolUse', { ...before, 'src/mine.ts': ' M:10:2', 'src/held.ts': ' M:11:2' }), {
        scope: 'files',
        resource: res,
      });
      assert.equal(blocked.body.decision, 'block');
      assert.match(
        blocked.body.reason,
        new RegExp(
          `this command changed files another run holds: src/held\\.ts is held by holder \\(${other.id}\\).*Revert your changes to src/held\\.ts`,
        ),
      );
      const [run] = await active(ws.key);
      assert.deepEqual(
        run.working_set.map((f: any) => f.path),
        ['src/mine.ts'],
        'the free file is claimed',
      );
    });

    it('Codex apply_patch and Cursor preToolUse / afterFileEdit get the same decision in their own forms', async () => {
      const ws = await t.workspace({ name: 'codex' });
      const cursor = await t.createAgent(ws.session, { name: 'cursor' });
      const res = `repo:acme/clients-${kind}`;
      // Codex PreToolUse for apply_patch (developers.openai.com/codex/hooks, May 2026).
      const patch = '*** Begin Patch\n*** Update File: src/a.ts\n@@\n-a\n+b\n*** Add File: src/new.ts\n+x\n*** End Patch\n';
      const codex = await hook(
        ws.key,
        {
          session_id: 'cx',
          turn_id: 't1',
          cwd: ROOT,
          hook_event_name: 'PreToolUse',
          model: 'gpt-5-codex',
          tool_name: 'apply_patch',
          tool_input: { command: patch },
        },
        { client: 'codex', scope: 'files', resource: res },
      );
      assert.equal(decision(codex), 'allow');
      // Cursor 2.x preToolUse for a Write on the same file: denied in Cursor's permission form.
      const cur = await hook(
        cursor.key,
        {
          conversation_id: 'conv-1',
          generation_id: 'gen-1',
          hook_event_name: 'preToolUse',
          workspace_roots: [ROOT],
          tool_name: 'Write',
          tool_input: { file_path: `${ROOT}/src/new.ts`, contents: 'y' },
        },
        { client: 'cursor', scope: 'files', resource: res },
      );
      assert.equal(cur.body.permission, 'deny');
      assert.match(cur.body.agent_message, /src\/new\.ts is held by codex/);
      assert.equal(cur.body.user_message, cur.body.agent_message);
      const shell = await hook(
        cursor.key,
        { conversation_id: 'conv-1', hook_event_name: 'beforeShellExecution', workspace_roots: [ROOT], command: 'ls', cwd: ROOT },
        { client: 'cursor', scope: 'files', resource: res },
      );
      assert.deepEqual(shell.body, { permission: 'allow', decision: 'allow' });
      // afterFileEdit (Cursor 1.7+): claimed after the fact.
      const edited = await hook(
        cursor.key,
        {
          conversation_id: 'conv-1',
          hook_event_name: 'afterFileEdit',
          workspace_roots: [ROOT],
          file_path: `${ROOT}/src/c.ts`,
          edits: [{ old_string: 'a', new_string: 'b' }],
        },
        { client: 'cursor', scope: 'files', resource: res },
      );
      assert.deepEqual(edited.body, {});
      const [run] = await active(cursor.key);
      assert.deepEqual(
        run.working_set.map((f: any) => f.path),
        ['src/c.ts'],
      );
    });

    it('POST /v1/hooks/guard: open sessions with their runs, and which paths other runs hold', async () => {
      const ws = await t.workspace({ name: 'guarded' });
      const other = await t.createAgent(ws.session, { name: 'other' });
      const res = `repo:acme/guard-${kind}`;
      assert.equal(decision(await hook(other.key, pre('o', 'Edit', 'src/theirs.ts'), { scope: 'files', resource: res })), 'allow');
      const none = await t.request('POST', '/v1/hooks/guard', {
        key: ws.key,
        body: { resource: res, paths: ['src/theirs.ts', 'src/free.ts'] },
      });
      assert.equal(none.status, 200);
      assert.deepEqual(none.body.sessions, []);
      assert.deepEqual(
        none.body.blocking.map((b: any) => [b.path, b.agent_id]),
        [['src/theirs.ts', other.id]],
      );
      assert.equal(decision(await hook(ws.key, pre('g', 'Edit', 'src/mine.ts'), { scope: 'files', resource: res })), 'allow');
      const mine = await t.request('POST', '/v1/hooks/guard', { key: ws.key, body: { resource: res, paths: ['src/mine.ts'] } });
      assert.equal(mine.body.sessions.length, 1);
      assert.equal(mine.body.sessions[0].session_id, 'g');
      assert.equal(mine.body.sessions[0].claim.status, 'active');
      assert.deepEqual(mine.body.blocking, []);
      const bad = await t.request('POST', '/v1/hooks/guard', { key: ws.key, body: { resource: res, paths: ['../x'] } });
      assert.equal(bad.status, 400);
    });

    it('retention forgets a session idle past its days; the session starts afresh with a run of its own', async () => {
      const ws = await t.workspace({ name: 'idle' });
      const res = `repo:acme/idle-${kind}`;
      const sessions = () => t.store.db.selectFrom('hook_sessions').select('session_id').where('org_id', '=', ws.session.orgId).execute();
      assert.equal(decision(await hook(ws.key, pre('idle', 'Edit', 'src/a.ts'), { resource: res })), 'allow');
      const [first] = await active(ws.key);
      assert.equal((await sessions()).length, 1);
      // A day short of the retention the row stays; past it, it goes.
      await t.services.retention.prune(t.clock.now() + 6 * 24 * 60 * MIN);
      assert.equal((await sessions()).length, 1);
      t.clock.advance(8 * 24 * 60 * MIN);
      const pruned = await t.services.retention.prune();
      assert.ok(pruned.hook_sessions >= 1);
      assert.equal((await sessions()).length, 0);
      // The old run lapsed long ago; the same session id now gets a new run, not a replay of the old start.
      assert.equal(decision(await hook(ws.key, pre('idle', 'Edit', 'src/a.ts'), { resource: res })), 'allow');
      const [second] = await active(ws.key);
      assert.ok(second?.id && second.id !== first.id);
      assert.equal((await sessions()).length, 1);
    });

    it('POST /v1/hooks/guard lists at most 100 holders and says how many there are', async () => {
      const ws = await t.workspace({ name: 'guard-cap' });
      const other = await t.createAgent(ws.session, { name: 'many' });
      const res = `repo:acme/guard-cap-${kind}`;
      const run = await t.start(other.key, { resource: res });
      const paths = Array.from({ length: 150 }, (_, i) => `src/f${i}.ts`);
      const set = await t.request('POST', '/v1/work/run/working-set', { key: other.key, body: { claim_id: run.body.claim.id, paths } });
      assert.equal(set.body.action, 'updated');
      const g = await t.request('POST', '/v1/hooks/guard', { key: ws.key, body: { resource: res, paths } });
      assert.equal(g.status, 200);
      assert.equal(g.body.blocking.length, 100);
      assert.equal(g.body.blocking_count, 150);
      assert.equal(g.body.blocking_truncated, true);
    });
  });
}
