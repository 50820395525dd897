/** Ids: unique, typed by prefix, and sorted in creation order within a process (also inside one millisecond). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newId } from '../src/ids.js';

describe('newId', () => {
  it('sorts in creation order, even for thousands made in the same millisecond', () => {
    const ids = Array.from({ length: 5000 }, (_, i) => newId(i % 2 ? 'audit' : 'claim').replace(/^[a-z]+_/, ''));
    assert.equal(new Set(ids).size, ids.length, 'ids repeat');
    const sorted = [...ids].sort();
    assert.deepEqual(sorted, ids, 'ids do not sort in creation order');
  });

  it('carries the type prefix and a fixed-length body', () => {
    const id = newId('claim');
    assert.match(id, /^[a-z]+_[0-9a-z]{25}$/);
  });
});
