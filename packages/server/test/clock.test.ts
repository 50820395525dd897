/** The clock's sleeps: time-dependent waits move with ManualClock.advance(), never with real time. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, systemClock } from '../src/clock.js';

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('clock sleeps', () => {
  it('a manual sleep wakes only when advance() passes its time, earliest first', async () => {
    const clock = new ManualClock();
    const woke: string[] = [];
    const a = clock.sleep(2_000).then(() => woke.push('a'));
    const b = clock.sleep(1_000).then(() => woke.push('b'));
    const c = clock.sleep(1_000).then(() => woke.push('c'));
    assert.equal(clock.sleeping, 3);
    clock.advance(999);
    await settled();
    assert.deepEqual(woke, []);
    clock.advance(1);
    await Promise.all([b, c]);
    assert.deepEqual(woke, ['b', 'c']);
    assert.equal(clock.sleeping, 1);
    clock.advance(5_000);
    await a;
    assert.deepEqual(woke, ['b', 'c', 'a']);
    assert.equal(clock.sleeping, 0);
  });

  it('an abort ends a sleep at once and forgets it; an aborted signal does not sleep', async () => {
    const clock = new ManualClock();
    const ctl = new AbortController();
    const sleep = clock.sleep(60_000, ctl.signal);
    assert.equal(clock.sleeping, 1);
    ctl.abort();
    await sleep;
    assert.equal(clock.sleeping, 0);
    await clock.sleep(60_000, ctl.signal);
    assert.equal(clock.sleeping, 0);
  });

  it('a zero sleep resolves without advance()', async () => {
    const clock = new ManualClock();
    await clock.sleep(0);
    assert.equal(clock.sleeping, 0);
  });

  it('the system clock sleeps on a real timer and aborts early', async () => {
    await systemClock.sleep(1);
    const ctl = new AbortController();
    const long = systemClock.sleep(3_600_000, ctl.signal);
    ctl.abort();
    await long;
  });
});
