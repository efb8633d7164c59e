export { Store, type StoreOptions, type StoredObject, type ObjectMeta, type DedupRecord, type CommitRecord, type ObjectChange, type TxnRecordChange, type TxnRecordKind, type CommitReplicator, type RawEntry } from './store.js';
export { StorageError } from './errors.js';
export { VALUE_TAG, encodeJsonValue, encodeBytesValue } from './values.js';
export { objectStem, parseStorageKey, type ObjectKey, type ParsedStorageKey } from './keys.js';
