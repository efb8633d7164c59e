/**
 * Object placement: an object belongs to shard `hash(type, id) mod numShards`. Client, worker and
 * coordinator must agree on this function byte for byte, so it lives here.
 */

const encoder = new TextEncoder();

/** FNV-1a, 32 bit, over the UTF-8 bytes of `type \0 id`. Cheap, stable, well spread. */
export function shardOf(type: string, id: string, numShards: number): number {
  let h = 0x811c9dc5;
  const bytes = encoder.encode(type + '\u0000' + id);
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % numShards;
}

/** Type and method names: identifiers. Object ids: 1-256 characters, no NUL. */
export const TYPE_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
export const METHOD_NAME_PATTERN = /^[A-Za-z_$][A-Za-z0-9_$]{0,127}$/;
export const MAX_OBJECT_ID_LENGTH = 256;

export function checkObjectId(id: string): string | undefined {
  if (typeof id !== 'string' || id.length === 0) return 'object id must be a non-empty string';
  if (id.length > MAX_OBJECT_ID_LENGTH) return `object id longer than ${MAX_OBJECT_ID_LENGTH} characters`;
  if (id.includes('\u0000')) return 'object id must not contain NUL';
  return undefined;
}
