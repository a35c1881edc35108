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

