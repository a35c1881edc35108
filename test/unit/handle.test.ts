/** The lock handle as a value, and requests that alternate between domains. */

import { describe, expect, it } from 'vitest';
import { LockManager } from '../../src/index.js';
import { codeOf } from '../spec/harness.js';

describe('the lock handle', () => {
  it('is a plain value to await, not a thenable, and shows no `then`', async () => {
    const lm = new LockManager({ domains: [{ name: 'd', kind: 'dlm' }], stacks: 'off' });
    const lock = await lm.owner('a').lock('d', 'r', 'EX');
    // Its prototype's `then` (a faster promise resolution, dlm-lock.ts) is not callable.
    expect(typeof (lock as unknown as { then?: unknown }).then).toBe('undefined');
    expect(await Promise.resolve(lock)).toBe(lock);
    expect(await (async () => lock)()).toBe(lock);
    expect(Object.keys(lock)).not.toContain('then');
    expect(Object.prototype.hasOwnProperty.call(lock, 'then')).toBe(false);
  });
});

describe('domains looked up in turn', () => {
  it('each request goes to the domain it names, whatever was named before', async () => {
    const lm = new LockManager({ domains: [{ name: 'one', kind: 'dlm' }, { name: 'two', kind: 'dlm' }, { name: 'px', kind: 'posix' }] });
    const o = lm.owner('a');
    const a = await o.lock('one', 'r', 'EX');
    const b = await o.lock('two', 'r', 'EX');
    expect([a.domain, b.domain]).toEqual(['one', 'two']);
    // The same resource name in the other domain is another resource: b did not wait for a.
    expect(await codeOf(lm.owner('b').lock('one', 'r', 'EX', { noQueue: true }))).toBe('EAGAIN');
    expect(await codeOf(o.lock('nope', 'r', 'EX'))).toBe('ENOENT');
    expect(await codeOf(o.lock('px', 'r', 'EX'))).toBe('EINVAL');
    const c = await o.lock('one', 's', 'EX');
    expect(c.domain).toBe('one');
    expect(lm.stats().one!.held).toBe(2);
    expect(lm.stats().two!.held).toBe(1);
  });
});
