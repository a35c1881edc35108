/** lockscope: the in-process lock manager. */

export { LockManager, type LockManagerOptions, type Admission, type WaitEdge } from './manager.js';
// Owners and lock handles are only ever received (lm.owner(), owner.lock()): their types are
// published, their classes are not, so a user cannot construct one outside a manager.
export type { Owner } from './owner.js';
export type { DlmLock } from './dlm-lock.js';
// A quota is made by its user (a lock server, per session and principal) and given to lm.owner().
export { Quota } from './quota.js';
export { LockError, DeadlockError, LOCK_ERROR_CODES, isLockError } from './errors.js';
export type { LockErrorCode, LockErrorContext } from './errors.js';
export { FakeClock, realClock, type Clock, type TimerHandle } from './clock.js';
export { defaultLimits, OFFSET_MAX, type Limits } from './limits.js';
export { MODES, compatible, type DlmMode } from './modes.js';
export type { DomainConfig } from './domain.js';
export type * from './api.js';
export type * from './shapes.js';
export type { SnapshotOptions } from './snapshot.js';
export type { StackMode } from './stacks.js';
export type { DeadlockOptions, DetectMode, VictimPolicy } from './deadlock.js';
export type { LockOrderOptions, Classifier } from './lockorder.js';
export { defaultClassifier } from './lockorder.js';
export type { GraceOptions } from './grace.js';
