// Classified key-value storage, one Bucket per [[storage]] grant in
// app.toml. A bucket has one data class; reading it labels the
// invocation with that class, and labelled data cannot then go to a
// lower-class bucket or a destination not cleared for it. A value
// expires at the smallest of the ttl asked for, the bucket's default and
// the class's maximum; an expired value is never returned.

import * as host from "warden:host/storage@0.2.0";
import { storageCall } from "./errors.js";
import { toBytes, toText } from "./bytes.js";

// The host takes a u64 of seconds; the class's maximum caps it anyway.
const MAX_TTL = 2 ** 63;

function seconds(ttl) {
  if (ttl === undefined || ttl === null) return undefined;
  const n = Number(ttl);
  if (!Number.isFinite(n) || n < 1 || n >= MAX_TTL) {
    throw new RangeError(`ttl must be 1 second or more (omit it for the bucket's default), not ${ttl}`);
  }
  return BigInt(Math.floor(n));
}

/** One of the app's buckets, by the name app.toml gives it. */
export class Bucket {
  constructor(name) {
    this.name = name;
  }

  /** The bucket's class: public, internal, confidential or regulated. */
  async dataClass() {
    return storageCall(() => host.open(this.name));
  }

  /** The value under `key` as bytes, or undefined. */
  async get(key) {
    return storageCall(() => host.get(this.name, key));
  }

  /** The value under `key` as UTF-8 text, or undefined. */
  async getText(key) {
    const value = await this.get(key);
    return value === undefined ? undefined : toText(value);
  }

  /** The JSON value under `key`, or undefined. */
  async getJson(key) {
    const value = await this.getText(key);
    return value === undefined ? undefined : JSON.parse(value);
  }

  /**
   * Stores `value` (bytes or a string) under `key`, for `ttl` seconds at
   * most (omitted: the bucket's default).
   */
  async set(key, value, { ttl } = {}) {
    const data = toBytes(value);
    const expiry = seconds(ttl);
    storageCall(() => host.set(this.name, key, data, expiry));
  }

  /** Stores `value` as JSON under `key`. */
  async setJson(key, value, { ttl } = {}) {
    return this.set(key, JSON.stringify(value), { ttl });
  }

  /** Removes `key`; whether it was there. */
  async delete(key) {
    return storageCall(() => host.delete(this.name, key));
  }

  /** Whether `key` holds a value that has not expired. */
  async exists(key) {
    return storageCall(() => host.exists(this.name, key));
  }

  /** Every key starting with `prefix`, page by page: `for await (const k of bucket.keys())`. */
  async *keys({ prefix = "", pageSize = 100 } = {}) {
    const asked = Math.floor(Number(pageSize));
    const size = Number.isFinite(asked) ? Math.min(Math.max(asked, 1), 1000) : 100;
    let cursor;
    do {
      const page = storageCall(() => host.listKeys(this.name, prefix, cursor, size));
      yield* page.keys;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }
}
