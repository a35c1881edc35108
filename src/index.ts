/** lockscope: the in-process lock manager. */

export { LockManager, type LockManagerOptions, type Admission, type WaitEdge } from './manager.js';
export { Owner } from './owner.js';
export { Quota } from './quota.js';
export { DlmLock } from './dlm-lock.js';
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
