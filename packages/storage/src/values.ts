/**
 * Stored entry values carry one tag byte so JSON and raw bytes round-trip exactly.
 */
export const VALUE_TAG = { JSON: 1, BYTES: 2 } as const;

const enc = new TextEncoder();

export function encodeJsonValue(text: string): Uint8Array {
  const body = enc.encode(text);
  const out = new Uint8Array(body.length + 1);
  out[0] = VALUE_TAG.JSON;
  out.set(body, 1);
  return out;
}

export function encodeBytesValue(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out[0] = VALUE_TAG.BYTES;
  out.set(bytes, 1);
  return out;
}
