/**
 * A TCP relay between a node and etcd that a test can cut: `blackhole()`
 * keeps accepting bytes and forwards none (a partition: calls hang until
 * their deadline, as on a real network), `pass()` relays again. Real
 * sockets, loopback only.
 */

import { createServer, connect, type Server, type Socket } from 'node:net';

export class Relay {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private holes = false;
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<string> {
    this.server = createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => {});
      if (this.holes) return; // accepted, never answered
      const upstream = connect(this.targetPort, '127.0.0.1');
      this.sockets.add(upstream);
      upstream.on('close', () => this.sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.on('data', (d) => { if (!this.holes) upstream.write(d); });
      upstream.on('data', (d) => { if (!this.holes) client.write(d); });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as { port: number }).port;
    return `http://127.0.0.1:${this.port}`;
  }

  /** Forward nothing from now on; open connections stay open and silent. */
  blackhole(): void {
    this.holes = true;
  }

  /** Relay again: silent connections are closed so that clients reconnect through a live path. */
  pass(): void {
    this.holes = false;
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
