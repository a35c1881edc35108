/** The in-process harness for the shared suites. */

import { LockManager, type DomainConfig } from '../../src/index.js';
import type { LockHarness } from './harness.js';

export async function localHarness(domains: DomainConfig[], limits?: Record<string, number>): Promise<LockHarness> {
  const lm = new LockManager({ node: 'test', domains, ...(limits ? { limits } : {}) });
  return {
    owner: (name, options) => lm.owner(name, options),
    snapshot: async () => lm.snapshot(),
    settle: () => new Promise((resolve) => setImmediate(resolve)),
    close: async () => lm.close(),
  };
}
