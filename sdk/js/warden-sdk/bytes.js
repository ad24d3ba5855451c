// Bytes the host takes and gives, and the text and JSON around them.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A Uint8Array from bytes or a string (as UTF-8). */
export function toBytes(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (typeof value === "string") return encoder.encode(value);
  throw new TypeError(`expected a string or a Uint8Array, not ${typeof value}`);
}

/** The bytes as UTF-8 text. */
export function toText(bytes) {
  return decoder.decode(bytes);
}

/** Header pairs from an object ({name: value}), pairs, or nothing. */
export function toPairs(headers) {
  if (!headers) return [];
  const entries = Array.isArray(headers) ? headers : Object.entries(headers);
  return entries.map(([k, v]) => [String(k), String(v)]);
}
