/**
 * Real etcd for the cluster tests: one or three members on free loopback
 * ports, data in a temporary directory (under /dev/shm when it exists: fsync
 * on tmpfs is free, so two cores are enough for three members), started by
 * the test and removed at the end. Heartbeat 50 ms and election timeout
 * 500 ms, so a killed leader is replaced within a second.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../recovery/support.js';
import { until } from '../server/support.js';

export const ETCD_BIN = '/usr/bin/etcd';

/** Whether etcd can run here (.ci/run installs Debian's etcd-server). */
export function etcdAvailable(): boolean {
  return existsSync(ETCD_BIN) && spawnSync(ETCD_BIN, ['--version']).status === 0;
}

interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  child: ChildProcess | null;
  log: string;
}

export class EtcdCluster {
  private constructor(readonly dir: string, private readonly members: Member[]) {}

  /** Start `size` members and wait until every one answers /health. */
  static async start(size = 1): Promise<EtcdCluster> {
    const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
    const dir = mkdtempSync(join(base, 'lockscope-etcd-'));
    const members: Member[] = [];
    for (let i = 0; i < size; i++) {
      members.push({ name: `e${i}`, clientPort: await freePort(), peerPort: await freePort(), child: null, log: '' });
    }
    const c = new EtcdCluster(dir, members);
    for (const m of members) c.spawnMember(m);
    await c.waitHealthy();
    return c;
  }

  /** Client URLs of the members, in order. */
  get urls(): string[] {
    return this.members.map((m) => `http://127.0.0.1:${m.clientPort}`);
  }

  get endpoints(): string {
    return this.urls.join(',');
  }

  private spawnMember(m: Member): void {
    const initial = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(',');
    const child = spawn(ETCD_BIN, [
      '--name', m.name,
      '--data-dir', join(this.dir, m.name),
      '--listen-client-urls', `http://127.0.0.1:${m.clientPort}`,
      '--advertise-client-urls', `http://127.0.0.1:${m.clientPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-cluster', initial,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', `lockscope-test-${process.pid}`,
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
      '--log-level', 'error',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => {
      m.log = (m.log + d.toString()).slice(-8192);
    });
    m.child = child;
  }

  private async healthy(m: Member): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${m.clientPort}/health`, { signal: AbortSignal.timeout(500) });
      const body = (await res.json()) as { health?: string };
      return body.health === 'true';
    } catch {
      return false;
    }
  }

  async waitHealthy(timeoutMs = 15_000): Promise<void> {
    const live = this.members.filter((m) => m.child !== null);
    await until(async () => (await Promise.all(live.map((m) => this.healthy(m)))).every(Boolean), timeoutMs);
  }

  /** The index of the member that leads, asked of every live member. */
  async leader(): Promise<number> {
    for (let i = 0; i < this.members.length; i++) {
      const m = this.members[i]!;
      if (!m.child) continue;
      try {
        const res = await fetch(`http://127.0.0.1:${m.clientPort}/v3/maintenance/status`, {
          method: 'POST', body: '{}', signal: AbortSignal.timeout(500),
        });
        const s = (await res.json()) as { header: { member_id: string }; leader: string };
        if (s.header.member_id === s.leader) return i;
      } catch {
        // a member that does not answer is not the leader we can use
      }
    }
    return -1;
  }

  /** SIGKILL one member (it is not restarted). */
  kill(i: number): void {
    const m = this.members[i]!;
    m.child?.kill('SIGKILL');
    m.child = null;
  }

  pause(i: number): void {
    this.members[i]!.child?.kill('SIGSTOP');
  }

  resume(i: number): void {
    this.members[i]!.child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => new Promise<void>((resolve) => {
      const child = m.child;
      m.child = null;
      if (!child || child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    })));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
