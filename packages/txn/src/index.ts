export { LockTable } from './locks.js';
export {
  validateReads,
  unchangedSince,
  commitOcc,
  retryBackoffMs,
  type Versioned,
  type ReadStamp,
  type AbortReason,
  type Validation,
  type CommitAttempt,
} from './occ.js';
export { EntrySets, EntrySetPolicy, POLICY_DEFAULTS, GRANULARITIES, type Granularity, type ReadSet, type PolicyOptions, type LayoutDecision } from './entrysets.js';
