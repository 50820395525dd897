import { randomBytes } from 'node:crypto';
import { ID_PREFIX } from '@availsync/protocol';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

// Ids are not secrets: draw their randomness from a pooled buffer instead of one getrandom() per id
// (a system call costs more than the rest of an id). Keys and session tokens use randomBytes directly.
let pool = Buffer.alloc(0);
let offset = 0;
function pooledRandom(n: number): Buffer {
  if (offset + n > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const out = pool.subarray(offset, offset + n);
  offset += n;
  return out;
}

let lastTime = '';
let lastRand = '';

/** `rand` + 1 in base 36 (the random part of the previous id of the same millisecond). */
function increment(rand: string): string {
  const digits = rand.split('');
  for (let i = digits.length - 1; i >= 0; i--) {
    const next = ALPHABET.indexOf(digits[i] as string) + 1;
    if (next < ALPHABET.length) {
      digits[i] = ALPHABET[next] as string;
      return digits.join('');
    }
    digits[i] = '0';
  }
  return digits.join(''); // wrapped around: 36^16 ids in one millisecond do not happen
}

/**
 * Opaque ids with a type prefix: a time part (ms) and 16 random base-36 characters. Within one process they
 * sort in creation order: an id made in the same millisecond as the previous one takes its random part + 1
 * (as monotonic ULIDs do), so rows listed by (created_at, id) keep the order they were written in.
 */
export function newId(kind: keyof typeof ID_PREFIX): string {
  const time = Date.now().toString(36).padStart(9, '0');
  let rand: string;
  if (time === lastTime) {
    rand = increment(lastRand);
  } else {
    const bytes = pooledRandom(16);
    rand = '';
    for (let i = 0; i < 16; i++) rand += ALPHABET[(bytes[i] ?? 0) % 36];
    lastTime = time;
  }
  lastRand = rand;
  return `${ID_PREFIX[kind]}_${time}${rand}`;
}
