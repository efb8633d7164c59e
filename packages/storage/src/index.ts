export { Store, type StoreOptions, type StoredObject, type ObjectMeta, type DedupRecord, type CommitRecord, type ObjectChange, type TxnRecordChange, type TxnRecordKind } from './store.js';
export { StorageError } from './errors.js';
export { VALUE_TAG, encodeJsonValue, encodeBytesValue } from './values.js';
export { objectStem, type ObjectKey } from './keys.js';
