export { LockTable } from './locks.js';
export {
  validateReads,
  commitOcc,
  retryBackoffMs,
  type Versioned,
  type ReadStamp,
  type AbortReason,
  type Validation,
  type CommitAttempt,
} from './occ.js';
