/** lockscope/server: the embeddable lock server. */

export { createServer, type LockServer, type ServerOptions } from './server.js';
export type { Role, TokenSpec } from './auth.js';
export { serverLimits, type ServerLimits } from './limits.js';
export type * from './protocol.js';
