// The throughput measurement the lock-service benchmarks share (server.js,
// cluster.js): concurrent lock → unlock loops against a started system, and
// the CPU its process and the clients spent per cycle.
import { readFileSync } from 'node:fs';

export const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
export const fmt = (x) => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0));

/** CPU time (user + system) of a process so far, in µs, from /proc (Linux); null elsewhere. */
export function cpuOf(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100; // clock ticks of 10 ms
  } catch {
    return null;
  }
}

/**
 * A worker's keys: a workload's key is one string, or a function of the
 * cycle number (a worker that walks its own 1,000 keys, or takes a new key
 * every time). `next()` is the key of the next lock; `current` the one held.
 */
export function keyCursor(key) {
  let n = 0;
  const c = {
    current: typeof key === 'function' ? key(0) : key,
    next() {
      if (typeof key === 'function') c.current = key(n++);
      return c.current;
    },
  };
  return c;
}

/**
 * Cycles per second of `workers` concurrent loops, each lock → unlock on its
 * key, for runMs after a warm-up; and the CPU the service's process and this
 * (the clients') process spent per cycle meanwhile: steadier than the rate on
 * a noisy machine, and it says which side is the limit.
 */
export async function measure(sys, wl, { warmMs, runMs }) {
  const workers = [];
  for (let i = 0; i < wl.workers; i++) workers.push(await sys.newWorker(wl.key(i)));
  let counting = false;
  let stop = false;
  let cycles = 0;
  let failure = null;
  // A failing worker stops the run at once (and is reported) rather than crash the process with the peers still running.
  const loops = workers.map(async (w) => {
    while (!stop) {
      await w.lock();
      await w.unlock();
      if (counting) cycles++;
    }
  }).map((p) => p.catch((err) => {
    failure ??= err;
    stop = true;
  }));
  await new Promise((r) => setTimeout(r, warmMs));
  counting = true;
  const t0 = performance.now();
  const server0 = sys.pid == null ? null : cpuOf(sys.pid);
  const client0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, runMs));
  const elapsed = performance.now() - t0;
  const counted = cycles;
  const server1 = sys.pid == null ? null : cpuOf(sys.pid);
  const client = process.cpuUsage(client0);
  stop = true;
  await Promise.all(loops);
  await Promise.all(workers.map((w) => w.close()));
  if (failure !== null) throw failure;
  return {
    ops: (counted * 1000) / elapsed,
    serverCpu: server0 === null || server1 === null || counted === 0 ? null : (server1 - server0) / counted,
    clientCpu: counted === 0 ? null : (client.user + client.system) / counted,
  };
}


/**
 * `rounds` rounds: each system started, every workload measured on it, the
 * system stopped, the systems in turn (reversed every other round); a line per sample. Returns `${system}|${workload}` → the
 * samples ({ ops, serverCpu, clientCpu }); a system that does not start, or
 * a workload that fails, is said and skipped.
 */
export async function measureRounds(systems, workloads, { rounds, warmMs, runMs, nameWidth = 24, cpu = true }) {
  const samples = new Map();
  const us = (x) => (x === null ? 'n/a' : `${x.toFixed(0)} µs`);
  for (let round = 0; round < rounds; round++) {
    // Rounds alternate who goes first: the first system after a stop measured slower in every round (bench/cluster-diag.js).
    for (const s of round % 2 === 0 ? systems : [...systems].reverse()) {
      let sys;
      try {
        sys = await s.start();
      } catch (err) {
        console.log(`${s.name}: could not start (${err.message})`);
        continue;
      }
      try {
        for (const wl of workloads) {
          const head = `· round ${round + 1} ${s.name.padEnd(nameWidth)} ${wl.label.padEnd(28)}`;
          try {
            const m = await measure(sys, wl, { warmMs, runMs });
            const key = `${s.name}|${wl.id}`;
            samples.set(key, [...(samples.get(key) ?? []), m]);
            console.log(`${head} ${fmt(m.ops).padStart(6)} cycles/s${cpu ? `   CPU per cycle: service ${us(m.serverCpu)}, clients ${us(m.clientCpu)}` : ''}`);
          } catch (err) {
            console.log(`${head} failed: ${err.message}`);
          }
        }
      } finally {
        await sys.stop();
      }
    }
  }
  return samples;
}
