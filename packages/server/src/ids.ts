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

/** Opaque ids with a type prefix: a 48-bit time part (sortable) and 80 random bits. */
export function newId(kind: keyof typeof ID_PREFIX): string {
  const time = Date.now().toString(36).padStart(9, '0');
  const bytes = pooledRandom(16);
  let rand = '';
  for (let i = 0; i < 16; i++) rand += ALPHABET[(bytes[i] ?? 0) % 36];
  return `${ID_PREFIX[kind]}_${time}${rand}`;
}
