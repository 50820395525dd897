/**
 * Fault-injection scenario 1: a model-based test (fast-check `fc.commands`) of the work-coordination core.
 *
 * Commands — start (3 agents of priority 100/200/300, 3 resources, preempt on/off, 1–10 min, sometimes an
 * explicit request priority, possibly above the agent's own = 400), extend (a known claim, optional duration,
 * optional working_set), finish (a known claim, outcome) or release (DELETE), working set (a known claim, op
 * set/add/remove, mode edit/delete/review, 1–3 paths from a pool with directories and globs, on the claim's
 * own resource, on a shared repo or on another claim resource, optional lease_seconds), clock advance
 * (forward up to 15 min and BACKWARDS up to 5 min), sweep, and a read (GET) of a known claim — run against
 * the real server in-process (SQLite store, HTTP through `t.request`, agent keys) and against a PURE
 * reference model (model-reference.ts: claims with status / expires_at / priority / fencing token, per-resource
 * fencing counters, file claims with their own lease capped at the claim's expiry, and a model of the
 * embedded store's clock: decisions read max(manual clock, high-water mark) and raise the mark). In half the
 * runs a workspace dependency rule relates res0 to res1 and res2, so a start can meet two live conflicting
 * claims (preempt all or none; skip with the highest-priority, then oldest).
 *
 * Every command asserts the real response equals the model's prediction (action, reason, fencing token,
 * statuses, expires_at / released_at, renewal count, blocked paths and who blocks them, working sets). After
 * every command the whole database state of the run is compared with the model (claims, file claims,
 * resource fencing counters, the persisted clock high-water mark), and the global invariants are checked
 * from the DATABASE rows alone:
 *   - mutual exclusion: at most one live claim per resource, and lease intervals
 *     [started_at, min(expires_at, released_at)) of one resource never overlap;
 *   - fencing: per resource, tokens strictly increase in started_at order, and the resource row holds the last;
 *   - working sets: no two live edit/delete file claims of different live claims overlap (patternsOverlap);
 *   - no revival: a claim that ended (released / expired / preempted, or active past expires_at at the
 *     decision clock) is never live again, and an ended row never changes status again.
 *
 * A second property takes the client's point of view ("an expired lease is never revived", §4.6):
 * once any answer reported a claim ended (a GET saying `expired`, a 409 claim_not_active, already_finished,
 * a preemption), no later answer may report it active, or ended with another status. Its command mix has
 * short leases, more reads and more small clock steps both ways.
 *
 * Fresh state per fast-check run: one workspace and three agents for the whole file, but every run uses
 * resource names of its own and starts a day after everything before it (and sweeps it all away).
 * 100 runs × up to 40 commands per property; STRESS=long runs 10× more; MODEL_RUNS=<n> sets the count;
 * MODEL_SEED=<n> replays a seed. A failure prints fast-check's shrunk command list and, in the error, the
 * trace of the failing execution with the claims each command resolved to.
 *
 * Beside this file: model-reference.ts (the model), model-commands.ts (the commands, each run on both) and
 * model-database.ts (the database compared with the model, and the invariants from the rows).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, MIN, type TestServer } from '@availsync/testkit';
import fc from 'fast-check';
import { AdvanceCmd, type Cmd, ExtendCmd, FinishCmd, ReadCmd, StartCmd, SweepCmd, WorkingSetCmd, type WsSpec } from './model-commands.js';
import {
  AGENT_PRIORITIES,
  type Mode,
  type Model,
  type Op,
  OUTCOMES,
  type Outcome,
  PATHS,
  type Pick,
  type Real,
  type Stats,
} from './model-reference.js';

const LONG = process.env.STRESS === 'long';
const NUM_RUNS = Number(process.env.MODEL_RUNS ?? (LONG ? 1000 : 100));
const MAX_COMMANDS = 40;
const SEED = process.env.MODEL_SEED === undefined ? undefined : Number(process.env.MODEL_SEED);
const DAY = 24 * 60 * MIN;

// ---------------------------------------------------------------------------------------------------
// Arbitraries

const pickArb: fc.Arbitrary<Pick> = fc.record({
  live: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  i: fc.oneof({ weight: 3, arbitrary: fc.nat({ max: 2 }) }, { weight: 1, arbitrary: fc.nat({ max: 63 }) }),
});
const maybe = <T>(arb: fc.Arbitrary<T>, weight = 2) =>
  fc.oneof({ weight, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb }) as fc.Arbitrary<T | undefined>;

const startArbOf = (maxMinutes: number) =>
  fc
    .record({
      agent: fc.nat({ max: 2 }),
      res: fc.nat({ max: 2 }),
      preempt: fc.boolean(),
      minutes: fc.integer({ min: 1, max: maxMinutes }),
      priority: maybe(fc.constantFrom(50, 100, 200, 300), 4),
    })
    .map((a) => new StartCmd(a.agent, a.res, a.preempt, a.minutes, a.priority));
const startArb = startArbOf(10);
const wsArb: fc.Arbitrary<WsSpec> = fc.record({
  op: maybe(fc.constantFrom<Op>('set', 'add', 'remove'), 1),
  mode: maybe(fc.constantFrom<Mode>('edit', 'delete', 'review'), 1),
  paths: fc.array(fc.constantFrom(...PATHS), { minLength: 1, maxLength: 3 }),
  res: fc.constantFrom(0, 1, 1, 2), // own resource, the shared repo (twice as often), a claim resource
  lease: maybe(fc.constantFrom(30, 120, 3600)),
});
const extendArb = fc
  .record({ pick: pickArb, minutes: maybe(fc.integer({ min: 1, max: 10 })), ws: maybe(wsArb, 3) })
  .map((a) => new ExtendCmd(a.pick, a.minutes, a.ws));
const finishArb = fc
  .record({ pick: pickArb, outcome: maybe(fc.constantFrom<Outcome | 'release'>(...OUTCOMES, 'release'), 1) })
  .map((a) => new FinishCmd(a.pick, a.outcome));
const workingSetArb = fc.record({ pick: pickArb, ws: wsArb }).map((a) => new WorkingSetCmd(a.pick, a.ws));
/** Forward up to 15 min or back up to 5 min; mostly whole minutes (exact expiry boundaries), mostly small. */
const advanceArb = fc
  .oneof(
    { weight: 3, arbitrary: fc.integer({ min: -2, max: 3 }).map((x) => x * MIN) },
    { weight: 2, arbitrary: fc.integer({ min: -5, max: 15 }).map((x) => x * MIN) },
    { weight: 1, arbitrary: fc.integer({ min: -5 * MIN, max: 15 * MIN }) },
  )
  .map((ms) => new AdvanceCmd(ms));
/** Short whole-minute steps either way: the interplay of the read clock and the decision clock. */
const stepArb = fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: -5, max: -1 })).map((x) => new AdvanceCmd(x * MIN));
const sweepArb = fc.constant(null).map(() => new SweepCmd());
const readArb = fc.record({ pick: pickArb, reader: fc.nat({ max: 2 }) }).map((a) => new ReadCmd(a.pick, a.reader));

const weighted = <T>(list: [fc.Arbitrary<T>, number][]) => list.flatMap(([arb, n]) => Array.from({ length: n }, () => arb));
const commandsArb = fc.commands(
  weighted<Cmd>([
    [startArb, 4],
    [workingSetArb, 4],
    [extendArb, 2],
    [finishArb, 1],
    [advanceArb, 3],
    [sweepArb, 1],
    [readArb, 2],
  ]),
  { maxCommands: MAX_COMMANDS, size: 'max' },
);
/**
 * For the client-view property: short leases, more reads and backward steps, and fewer of the writes that
 * would raise the high-water mark past what a read saw.
 */
const clockCommandsArb = fc.commands(
  weighted<Cmd>([
    [startArbOf(3), 2],
    [extendArb, 2],
    [finishArb, 1],
    [advanceArb, 1],
    [stepArb, 4],
    [readArb, 4],
  ]),
  { maxCommands: MAX_COMMANDS, size: 'max' },
);

// ---------------------------------------------------------------------------------------------------
// The properties

describe('faults: model-based test of the work core (sqlite)', () => {
  let t: TestServer;
  let orgId: string;
  let agents: { id: string; key: string }[];
  let runs = 0;

  before(async () => {
    t = await createTestServer('sqlite');
    const session = await t.signup();
    orgId = session.orgId;
    agents = [];
    for (const [i, priority] of AGENT_PRIORITIES.entries()) {
      const a = await t.createAgent(session, { name: `model-agent-${i}`, priority });
      agents.push({ id: a.id, key: a.key });
    }
  });
  after(async () => {
    await t.close();
  });

  /** A fresh run: its own resource names, a day after everything before, all earlier leases swept away. */
  async function setup(strict: boolean, stats: Stats, dependencies: boolean): Promise<{ model: Model; real: Real }> {
    runs += 1;
    const n = runs;
    const res = [`repo:acme/app-r${n}`, `project:alpha-r${n}`, `project:beta-r${n}`] as [string, string, string];
    const related = new Map<string, string[]>();
    if (dependencies) {
      related.set(res[0], [res[1], res[2]]);
      related.set(res[1], [res[0]]);
      related.set(res[2], [res[0]]);
      // The rule is written as PUT /v1/orgs/:org_id/rules stores it (rules.test.ts tests that route); the
      // workspace session would not survive the clock's jumps between runs.
      const split = (x: string) => ({ type: x.slice(0, x.indexOf(':')), key: x.slice(x.indexOf(':') + 1) });
      const from = split(res[0]);
      await t.store.db
        .insertInto('resource_dependencies')
        .values(
          [res[1], res[2]].map((to) => ({
            org_id: orgId,
            resource_type: from.type,
            resource_key: from.key,
            depends_on_type: split(to).type,
            depends_on_key: split(to).key,
            created_at: t.clock.now(),
          })),
        )
        .execute();
    }
    const readHwm = async () =>
      Number((await t.store.db.selectFrom('meta').select('value').where('key', '=', 'clock_hwm').executeTakeFirstOrThrow()).value);
    const target = Math.max(t.clock.now(), await readHwm()) + DAY;
    t.clock.advance(target - t.clock.now());
    while ((await t.services.work.sweep()) > 0) {
      /* until nothing is left to expire */
    }
    const hwm = await readHwm();
    const model: Model = {
      run: n,
      res,
      wsRes: ['', `repo:acme/web-r${n}`, `repo:acme/app-r${n}`],
      related,
      clock: t.clock.now(),
      hwm,
      persisted: hwm,
      claims: [],
      tokens: new Map(),
      files: [],
      observedEnded: new Map(),
      trace: [],
      dbEnded: new Map(),
    };
    return { model, real: { t, orgId, agents, strict, stats } };
  }

  async function check(strict: boolean): Promise<Stats> {
    const stats: Stats = {};
    await fc.assert(
      fc.asyncProperty(fc.boolean(), strict ? clockCommandsArb : commandsArb, async (dependencies, cmds) => {
        await fc.asyncModelRun(() => setup(strict, stats, dependencies), cmds);
      }),
      { numRuns: NUM_RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
    );
    return stats;
  }

  it(`the server agrees with the reference model and keeps every invariant (${NUM_RUNS} runs × ≤${MAX_COMMANDS} commands)`, async (ctx) => {
    const stats = await check(false);
    ctx.diagnostic(
      Object.entries(stats)
        .sort()
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    );
    // The generator must actually reach the interesting cases.
    const conflicts = ['ws.blocked', 'ws.partial_proceed', 'extend.extended.ws.blocked', 'extend.extended.ws.partial_proceed'];
    stats['ws.conflicts'] = conflicts.reduce((sum, k) => sum + (stats[k] ?? 0), 0);
    const expected = ['start.proceed', 'start.preempt', 'start.skip', 'start.skip_preemptable', 'start.skip.several', 'ws.conflicts'];
    for (const k of [...expected, 'extend.409.expired', 'clock.below_hwm', 'sweep.some']) {
      assert.ok((stats[k] ?? 0) > 0, `no ${k} in ${NUM_RUNS} runs`);
    }
  });

  it('a claim reported ended is never reported active again, even when the clock steps back between a read and a write', async (ctx) => {
    const stats = await check(true);
    ctx.diagnostic(
      Object.entries(stats)
        .sort()
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    );
  });
});
