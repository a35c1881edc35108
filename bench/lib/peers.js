// The libraries a user would pick instead of lockscope, driven the way their
// READMEs show. Every implementation has the same shape (see core.js):
//   uncontended(n, keys) → ms      contended(n, tasks) → ms
//   deepQueue(q, cfg) → { enqueueUs, sideUs, cancelUs, handoverUs }
//   memory(n, keys, slots, extra) → { heldBytes, retainedBytes } per lock
import AsyncLock from 'async-lock';
import { Mutex } from 'async-mutex';
import { now, settle, heapAfterGc, handoverChain, timeChain, timeSideOps } from './harness.js';

export const HOT = 'hot';
const noop = () => {};
// Returned from a critical section to keep the lock for good (async-lock
// holds the key until the function's promise settles).
const NEVER = new Promise(noop);


export function asyncLockImpl() {
  return {
    name: 'async-lock',
    // Promise mode with a synchronous critical section: the form from the
    // README and, measured, as fast as the callback form wrapped in a promise.
    async uncontended(n, keys) {
      const al = new AsyncLock();
      const k = keys.length;
      const t0 = now();
      for (let i = 0; i < n; i++) await al.acquire(keys[i % k], noop);
      return now() - t0;
    },
    async contended(n, tasks) {
      const al = new AsyncLock({ maxPending: Infinity });
      let left = n;
      const loop = async () => {
        while (left-- > 0) await al.acquire(HOT, noop);
      };
      const t0 = now();
      await Promise.all(Array.from({ length: tasks }, loop));
      return now() - t0;
    },
    async deepQueue(q, cfg) {
      // The default maxPending (1000) would reject the deep queue outright.
      const al = new AsyncLock({ maxPending: Infinity });
      let releaseHolder;
      al.acquire(HOT, () => new Promise((resolve) => { releaseHolder = resolve; }));
      const st = handoverChain();
      const step = () => (st.granted() ? NEVER : undefined);
      const loop = async () => {
        while (!st.stopped) await al.acquire(HOT, step);
      };
      const t0 = now();
      for (let i = 0; i < q; i++) loop().catch(st.fail);
      const enqueueUs = ((now() - t0) * 1000) / q;
      await settle();
      const k = cfg.keys.length;
      const sideUs = await timeSideOps(cfg.sideN, (i) => al.acquire(cfg.keys[i % k], noop));
      const handoverUs = await timeChain(st, cfg.h, releaseHolder);
      return { enqueueUs, sideUs, cancelUs: undefined, handoverUs };
    },
    // Holding a key in async-lock means a critical section that has not
    // finished yet: keep its resolver, call it to release.
    async memory(n, keys, slots) {
      const al = new AsyncLock();
      const base = heapAfterGc();
      for (let i = 0; i < n; i++) al.acquire(keys[i], () => new Promise((resolve) => { slots[i] = resolve; }));
      await settle();
      const held = heapAfterGc() - base;
      for (let i = 0; i < n; i++) {
        slots[i]();
        slots[i] = null;
      }
      await settle();
      const retained = heapAfterGc() - base;
      return { heldBytes: held / n, retainedBytes: retained / n };
    },
  };
}

export function asyncMutexImpl() {
  return {
    name: 'async-mutex',
    // One Mutex per key, created up front, looked up by key as a user would.
    async uncontended(n, keys) {
      const mutexes = new Map(keys.map((key) => [key, new Mutex()]));
      const k = keys.length;
      const t0 = now();
      for (let i = 0; i < n; i++) {
        const release = await mutexes.get(keys[i % k]).acquire();
        release();
      }
      return now() - t0;
    },
    async contended(n, tasks) {
      const mutex = new Mutex();
      let left = n;
      const loop = async () => {
        while (left-- > 0) {
          const release = await mutex.acquire();
          release();
        }
      };
      const t0 = now();
      await Promise.all(Array.from({ length: tasks }, loop));
      return now() - t0;
    },
    async deepQueue(q, cfg) {
      const mutex = new Mutex();
      const releaseHolder = await mutex.acquire();
      const st = handoverChain();
      const loop = async () => {
        for (;;) {
          const release = await mutex.acquire();
          if (st.granted()) return; // keep it: the chain ends here
          release();
        }
      };
      const t0 = now();
      for (let i = 0; i < q; i++) loop().catch(st.fail);
      const enqueueUs = ((now() - t0) * 1000) / q;
      await settle();
      const side = new Map(cfg.keys.map((key) => [key, new Mutex()]));
      const k = cfg.keys.length;
      const sideUs = await timeSideOps(cfg.sideN, async (i) => (await side.get(cfg.keys[i % k]).acquire())());
      const handoverUs = await timeChain(st, cfg.h, releaseHolder);
      return { enqueueUs, sideUs, cancelUs: undefined, handoverUs };
    },
    // n Mutex objects, each acquired; the mutexes go into `extra` and the
    // releasers into `slots`, both allocated by the caller before the baseline.
    async memory(n, keys, slots, extra) {
      const base = heapAfterGc();
      for (let i = 0; i < n; i++) {
        extra[i] = new Mutex();
        slots[i] = await extra[i].acquire();
      }
      const held = heapAfterGc() - base;
      for (let i = 0; i < n; i++) {
        slots[i]();
        slots[i] = null;
      }
      const retained = heapAfterGc() - base;
      for (let i = 0; i < n; i++) extra[i] = null;
      return { heldBytes: held / n, retainedBytes: retained / n };
    },
  };
}

/**
 * Not a library: the least a promise-based lock can be (a flag and an array
 * of resolvers with a head index, no owners, no bookkeeping), measured in the
 * deep-queue rows only. How its handover grows with Q shows what the runtime
 * itself charges for 200,000 waiters parked on promises: each one's awaiting
 * async function and promise, tenured and cold by the time its turn comes.
 */
export function promiseFifoImpl() {
  class FifoLock {
    held = false;
    waiters = [];
    head = 0;
    acquire() {
      if (!this.held) {
        this.held = true;
        return Promise.resolve();
      }
      return new Promise((resolve) => { this.waiters.push(resolve); });
    }
    release() {
      if (this.head === this.waiters.length) {
        this.held = false;
        return;
      }
      const next = this.waiters[this.head];
      this.waiters[this.head++] = undefined;
      if (this.head > 1024 && this.head * 2 > this.waiters.length) {
        this.waiters = this.waiters.slice(this.head);
        this.head = 0;
      }
      next(); // handed on: `held` stays true
    }
  }
  return {
    name: 'promise FIFO',
    async deepQueue(q, cfg) {
      const lock = new FifoLock();
      await lock.acquire();
      const st = handoverChain();
      const loop = async () => {
        for (;;) {
          await lock.acquire();
          if (st.granted()) return; // keep it: the chain ends here
          lock.release();
        }
      };
      const t0 = now();
      for (let i = 0; i < q; i++) loop().catch(st.fail);
      const enqueueUs = ((now() - t0) * 1000) / q;
      await settle();
      const side = new Map(cfg.keys.map((key) => [key, new FifoLock()]));
      const k = cfg.keys.length;
      const sideUs = await timeSideOps(cfg.sideN, async (i) => {
        const l = side.get(cfg.keys[i % k]);
        await l.acquire();
        l.release();
      });
      const handoverUs = await timeChain(st, cfg.h, () => lock.release());
      return { enqueueUs, sideUs, cancelUs: undefined, handoverUs };
    },
  };
}
