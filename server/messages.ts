/**
 * The schema of every client message (client/protocol.ts), checked at
 * the socket before a handler runs. What is accepted here is small and
 * plain; the core still judges its meaning.
 */

import { defaultLimits } from '../src/index.js';
import type {
  ConvertMessage, GetlkMessage, HoldMessage, LockMessage, OwnerMessage, ReleaseMessage, SetlkMessage,
} from '../client/protocol.js';
import { serverLimits as L } from './limits.js';
import { array, base64, bool, int, num, obj, oneOf, record, str, union, type Schema } from './validate.js';

const ID_MAX = Number.MAX_SAFE_INTEGER;
const id = int(1, ID_MAX);
const name = str();
const mode = str(8);
const site = str(L.siteCharsMax);
const siteId = int(1, L.sitesPerConnectionMax);
const lvb = base64(L.lvbCharsMax);
const range = obj({ start: num, end: num });
const alt = oneOf(['PR', 'CW'] as const);
const convDeadlock = oneOf(['error', 'demote', 'notify'] as const);
const posixRequest = obj({ type: oneOf(['read', 'write', 'unlock'] as const), start: num, len: num });

const metaValue = union<string | number | boolean, string[]>(
  union<string | number, boolean>(union<string, number>(str(), num), bool),
  array(str(), defaultLimits.metaKeysMax),
);

export const ownerMessage: Schema<OwnerMessage> = obj(
  { oid: id, name, meta: record(metaValue, defaultLimits.metaKeysMax, 64), priority: num, gid: id },
  ['meta', 'priority', 'gid'],
);

const lockOptions = obj(
  {
    timeoutMs: num, noQueue: bool, range, quecvt: bool, expedite: bool, alt, convDeadlock, blocking: bool, abortable: bool, cache: bool,
  },
  ['timeoutMs', 'noQueue', 'range', 'quecvt', 'expedite', 'alt', 'convDeadlock', 'blocking', 'abortable', 'cache'],
);

export const lockMessage: Schema<LockMessage> = obj(
  { req: id, oid: id, domain: name, resource: name, mode, options: lockOptions, site, siteId },
  ['options', 'site', 'siteId'],
);

const convertOptions = obj(
  { timeoutMs: num, noQueue: bool, quecvt: bool, alt, convDeadlock, lvb, abortable: bool },
  ['timeoutMs', 'noQueue', 'quecvt', 'alt', 'convDeadlock', 'lvb', 'abortable'],
);

export const convertMessage: Schema<ConvertMessage> = obj({ req: id, id, mode, options: convertOptions, site, siteId }, ['options', 'site', 'siteId']);

export const releaseMessage: Schema<ReleaseMessage> = obj({ id, lvb }, ['lvb']);

export const adoptMessage = obj({ id, oid: id });

export const holdMessage: Schema<HoldMessage> = obj({ id, inUse: bool, confirm: bool, user: name, site, siteId }, ['confirm', 'user', 'site', 'siteId']);

const setlkOptions = obj({ wait: bool, timeoutMs: num, abortable: bool }, ['wait', 'timeoutMs', 'abortable']);

export const setlkMessage: Schema<SetlkMessage> = obj(
  { req: id, oid: id, domain: name, resource: name, request: posixRequest, options: setlkOptions, site, siteId },
  ['options', 'site', 'siteId'],
);

export const getlkMessage: Schema<GetlkMessage> = obj({ oid: id, domain: name, resource: name, request: posixRequest });

export const syncMessage = obj({ reqs: array(id, L.pendingPerSessionMax) });

export const ownerRef = obj({ oid: id });
export const reqRef = obj({ req: id });
export const empty = obj({});
/** `reclaimComplete`: in a cluster, the generation of the view the client reclaimed under (decimal). */
export const reclaimComplete = obj({ generation: str(24) }, ['generation']);
