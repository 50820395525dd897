/**
 * "working-set update, adversarial patterns at the caps": the same shape as the normal working-set
 * row (32 runs updating their working sets on one shared repository, through HTTP), but every path is a
 * pattern at the caps (16 wildcards, hundreds of characters, runs of one letter between the wildcards,
 * no literal prefix or suffix that tells two apart), against 8 other runs that hold 50 such patterns each
 * (each in its own directory). Each update asks for 20 of them behind a leading globstar segment, so every
 * held one is a candidate. Answers are 200/409 (decided) or 422 pattern_too_complex (the request's overlap
 * budget spent): all of them count as answered; anything else is an error. Statuses include the warm-up.
 */
import type { Latencies, RunResult } from './loadgen.js';
import { runClosedLoop } from './loadgen.js';
import type { Node } from './servers.js';

const HOLDERS = 8;
const HELD_EACH = 50;
const REQUESTED = 20;

/** A pattern at the caps: 16 wildcards, about 450 characters; `i` picks the letters (distinct for i < 512). */
export function adversarialPattern(i: number, wildcards = 16): string {
  const kinds = ['*', '?', '[ab]', '*'];
  let out = '';
  for (let w = 16 - wildcards; w < 16; w++) {
    const b = w < 9 && (i >> w) & 1 ? 'b' : '';
    out += `${kinds[(w + i) % kinds.length]}${'a'.repeat(20 + ((i + w) % 5))}${b}aaa`;
  }
  return out;
}

export interface AdversarialResult extends RunResult {
  /** Answers by status (200, 409, 422 …). */
  statuses: Record<number, number>;
}

export async function adversarialWorkingSet(
  node: Node,
  keys: string[],
  clients: number,
  seconds: number,
  warmup: number,
): Promise<AdversarialResult> {
  const post = (key: string, path: string, body: unknown) =>
    fetch(`${node.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    });
  const start = async (key: string, resource: string) =>
    ((await (await post(key, '/v1/work/run/start', { resource, duration_minutes: 60 })).json()) as { claim: { id: string } }).claim.id;
  const stamp = Date.now();
  for (let h = 0; h < HOLDERS; h++) {
    const key = keys[h % keys.length] as string;
    const claim = await start(key, `project:adversary-${stamp}-${h}`);
    // Each holder in its own directory (holders never compare with each other); the askers reach all.
    const paths = Array.from({ length: HELD_EACH }, (_, k) => `h${h}/${adversarialPattern(h * HELD_EACH + k)}`);
    const res = await post(key, '/v1/work/run/working-set', { claim_id: claim, resource: 'repo:bench/adversarial', paths });
    if (res.status !== 200) throw new Error(`holder ${h}: ${res.status} ${await res.text()}`);
  }
  const runs: { key: string; claim: string }[] = [];
  for (let i = 0; i < clients; i++) {
    const key = keys[(HOLDERS + i) % keys.length] as string;
    runs.push({ key, claim: await start(key, `project:asker-${stamp}-${i}`) });
  }
  const statuses: Record<number, number> = {};
  let counter = 0;
  const result = await runClosedLoop(
    clients,
    seconds,
    async (i, timed) => {
      const run = runs[i] as { key: string; claim: string };
      const n = counter++;
      const paths = Array.from({ length: REQUESTED }, (_, k) => `**/${adversarialPattern((n * REQUESTED + k) % 512, 15)}`);
      const res = await timed(() =>
        post(run.key, '/v1/work/run/working-set', { claim_id: run.claim, resource: 'repo:bench/adversarial', paths }),
      );
      await res.arrayBuffer();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      return res.status === 200 || res.status === 409 || res.status === 422 ? 'ok' : 'error';
    },
    warmup,
  );
  return { ...result, statuses };
}

export type { Latencies };
