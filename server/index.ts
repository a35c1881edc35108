/** lockscope/server: the embeddable lock server. */

export { createServer, type LockServer, type ServerOptions } from './server.js';
export type { TokenSpec } from './auth.js';
export type * from '../client/protocol.js';
export type { LockServerIo, LockSocket, SocketData } from './sockets.js';
export { serverLimits, type ServerLimits } from './limits.js';
export type * from './protocol.js';
