import { LambdaStoreError } from '@lambdastore/proto';

/** Storage failures. A failed durable write leaves memory and disk apart, so the worker must stop. */
export class StorageError extends LambdaStoreError {
  constructor(message: string, cause?: unknown) {
    super('INTERNAL', message, { retryable: true, cause });
    this.name = 'StorageError';
  }
}
