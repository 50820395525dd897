import { randomBytes } from 'node:crypto';
import { ID_PREFIX } from '@availsync/protocol';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** Opaque ids with a type prefix: a 48-bit time part (sortable) and 80 random bits. */
export function newId(kind: keyof typeof ID_PREFIX): string {
  const time = Date.now().toString(36).padStart(9, '0');
  const bytes = randomBytes(16);
  let rand = '';
  for (let i = 0; i < 16; i++) rand += ALPHABET[(bytes[i] ?? 0) % 36];
  return `${ID_PREFIX[kind]}_${time}${rand}`;
}
