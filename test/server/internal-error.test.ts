/**
 * The one fallback for an error the server did not expect (a bug), used by
 * the socket's replies and by the REST error middleware alike: a declared
 * code, EIO, that blames nobody, and the error with its stack handed to the
 * server's log; a LockError passes through as itself.
 */

import { expect, it } from 'vitest';
import { LockError } from '../../src/index.js';
import { toWireError } from '../../server/errors.js';

it('an unexpected error answers EIO and goes to the log; a LockError is answered as itself', () => {
  const logged: unknown[] = [];
  const bug = new TypeError('cannot read properties of undefined');
  expect(toWireError(bug, (e) => logged.push(e))).toMatchObject({ code: 'EIO' });
  expect(logged).toEqual([bug]);
  expect(toWireError(new LockError('EAGAIN', 'busy'), (e) => logged.push(e))).toMatchObject({ code: 'EAGAIN' });
  expect(logged).toHaveLength(1);
});
