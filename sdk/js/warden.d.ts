// TypeScript declarations for Warden's JavaScript SDK (warden.js). Every
// async function rejects with one of the WardenError classes below when
// the host refuses or fails; see README.md beside this file.

/** Header pairs, or an object of name → value. */
export type Headers = Array<[string, string]> | Record<string, string>;

/** What the app was invoked with: the HTTP body, `warden run --input`, or a schedule's input. */
export class Request {
  /** The input, as bytes. */
  readonly body: Uint8Array;
  /** The input as UTF-8 text. */
  text(): string;
  /** The input parsed as JSON; an empty input is null. Throws Refuse(400) when it is not JSON. */
  json(): any;
}

/**
 * Makes `fn` the app's handler. Its answer: a Uint8Array as it is, a
 * string as UTF-8 text, any other value as JSON; throw Refuse for a
 * caller's mistake. Export the result as `handler`:
 * `export const handler = defineHandler(async (request) => …)`.
 */
export function defineHandler(
  fn: (request: Request) => unknown | Promise<unknown>,
): { handle(input: Uint8Array): Promise<Uint8Array> };

/** `Name: message (file:line)` for an error, as Warden reports a failure. */
export function describeFailure(e: unknown): string;

/** The upstream's answer to a connector call. */
export class Response {
  readonly status: number;
  readonly headers: Array<[string, string]>;
  readonly body: Uint8Array;
  /** Whether the status is 2xx. */
  readonly ok: boolean;
  /** The body as UTF-8 text. */
  text(): string;
  /** The body parsed as JSON; throws SyntaxError if it is not. */
  json(): any;
  /** The first header called `name` (any case). */
  header(name: string): string | undefined;
}

/**
 * Approved SaaS connectors, by the name the platform's catalog gives them.
 * Each call rejects with NotGranted or Denied (not granted, outside the
 * scopes, data the connector is not cleared for, DLP, a kill),
 * QuotaExceeded, Timeout or Upstream. An HTTP error status from the
 * upstream is not an error: check `response.status`.
 */
export namespace connectors {
  /** `method path` (relative to the connector's base URL, query included). */
  function call(
    connector: string,
    method: string,
    path: string,
    options?: { headers?: Headers; body?: Uint8Array | string },
  ): Promise<Response>;
  /** `GET path` on the connector. */
  function get(connector: string, path: string, options?: { headers?: Headers }): Promise<Response>;
  /** `POST path` with `value` as JSON (content-type set unless given). */
  function postJson(
    connector: string,
    path: string,
    value: unknown,
    options?: { headers?: Headers },
  ): Promise<Response>;
}

/**
 * One of the app's buckets ([[storage]] in app.toml). Each method rejects
 * with NotGranted (no such bucket), Denied (class-violation, dlp-blocked,
 * killed), QuotaExceeded, TooLarge (a key or value over the platform's
 * limits, or an empty key) or StorageFailure; a ttl under 1 second throws
 * RangeError.
 */
export class Bucket {
  constructor(name: string);
  readonly name: string;
  /** public, internal, confidential or regulated. */
  dataClass(): Promise<string>;
  get(key: string): Promise<Uint8Array | undefined>;
  getText(key: string): Promise<string | undefined>;
  getJson(key: string): Promise<any>;
  /** Stores a value for at most `ttl` seconds (default: the bucket's). */
  set(key: string, value: Uint8Array | string, options?: { ttl?: number }): Promise<void>;
  setJson(key: string, value: unknown, options?: { ttl?: number }): Promise<void>;
  /** Whether the key was there. */
  delete(key: string): Promise<boolean>;
  exists(key: string): Promise<boolean>;
  /** Every key starting with `prefix`: `for await (const key of bucket.keys())`. */
  keys(options?: { prefix?: string; pageSize?: number }): AsyncGenerator<string>;
}

export namespace storage {
  export { Bucket };
}

/**
 * Configuration values: [config] in app.toml, under the platform's
 * [config.apps.NAME] in warden.toml. Values are strings. Each call
 * rejects with ConfigUnavailable if the host cannot read them.
 */
export namespace config {
  function get(key: string): Promise<string | undefined>;
  function get(key: string, fallback: string): Promise<string>;
  /** Rejects with ConfigMissing when nobody set `key`. */
  function require(key: string): Promise<string>;
  function all(): Promise<Record<string, string>>;
}

/** Logs onto the invocation's trace. Never throws. */
export namespace log {
  function trace(message: unknown): void;
  function debug(message: unknown): void;
  function info(message: unknown): void;
  function warn(message: unknown): void;
  function error(message: unknown): void;
}

/** Anything the host refused or could not do. */
export class WardenError extends Error {}
/** The platform refused; `kind` is how traces name it. */
export class Denied extends WardenError {
  readonly kind:
    | "not-granted"
    | "scope-denied"
    | "address-blocked"
    | "class-violation"
    | "dlp-blocked"
    | "egress-denied"
    | "killed";
  /** The host's message, without the kind. */
  readonly reason: string;
}
export class NotGranted extends Denied {}
export class QuotaExceeded extends WardenError {}
export class Timeout extends WardenError {}
export class Upstream extends WardenError {}
export class TooLarge extends WardenError {}
export class StorageFailure extends WardenError {}
export class ConfigMissing extends WardenError {
  readonly key: string;
}
export class ConfigUnavailable extends WardenError {}
/** Answers the caller with a 4xx/5xx status and the message as its body. */
export class Refuse extends Error {
  constructor(status: number, message: string);
  readonly status: number;
}
