// What Warden refuses, as JavaScript errors. Every SDK call throws one of
// these instead of returning an error value; all extend WardenError, so
// `catch (e) { if (e instanceof WardenError) … }` catches every refusal.

/** Anything the host refused or could not do; `message` says what. */
export class WardenError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * The platform refused the call. `kind` is how traces and the audit log
 * name it: not-granted, scope-denied, address-blocked, class-violation,
 * dlp-blocked, egress-denied or killed.
 */
export class Denied extends WardenError {
  constructor(kind, message) {
    super(`${kind}: ${message}`);
    this.kind = kind;
    this.reason = message;
  }
}

/** The manifest grants no such connector or bucket: add it to app.toml. */
export class NotGranted extends Denied {}

/** A quota (or a spent budget) ran out; the message names it and when it resets. */
export class QuotaExceeded extends WardenError {}

/** The upstream did not answer in time. */
export class Timeout extends WardenError {}

/** The upstream could not be reached or answered badly. */
export class Upstream extends WardenError {}

/** A storage key or value is larger than the platform allows. */
export class TooLarge extends WardenError {}

/** The store failed; the message says what to tell the operator. */
export class StorageFailure extends WardenError {}

/** A configuration key nobody set; `key` names it. */
export class ConfigMissing extends WardenError {
  constructor(key) {
    super(
      `no configuration value "${key}": set it under [config] in app.toml ` +
        `(or [config.apps.NAME] in warden.toml)`,
    );
    this.key = key;
  }
}

/** The host could not read the app's configuration. */
export class ConfigUnavailable extends WardenError {}

/**
 * Answers the caller with `status` (4xx or 5xx) and `message` as a plain
 * text body: `throw new Refuse(400, "name is required")`.
 */
export class Refuse extends Error {
  constructor(status, message) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new TypeError(`Refuse needs a 4xx or 5xx status, not ${status}`);
    }
    super(message);
    this.name = "Refuse";
    this.status = status;
  }
}

// The error value a host call failed with: componentize-js throws it
// wrapped (`payload`) or as it is.
function payload(thrown) {
  return thrown && typeof thrown === "object" && "payload" in thrown ? thrown.payload : thrown;
}

// The error for each case of the host's `error` variants; a case not
// listed is the interface's catch-all.
const CASES = {
  "quota-exceeded": QuotaExceeded,
  timeout: Timeout,
  "too-large": TooLarge,
};

function fromError(thrown, otherwise) {
  const error = payload(thrown);
  if (!error || typeof error !== "object" || !("tag" in error)) {
    return thrown instanceof Error ? thrown : new otherwise(String(error));
  }
  if (error.tag === "denied") {
    const kind = error.val.kind;
    return new (kind === "not-granted" ? NotGranted : Denied)(kind, error.val.message);
  }
  return new (CASES[error.tag] || otherwise)(String(error.val));
}

/** Runs a `warden:host/connectors` call, throwing its error as a WardenError. */
export function connectorCall(fn) {
  try {
    return fn();
  } catch (e) {
    throw fromError(e, Upstream);
  }
}

/** Runs a `warden:host/storage` call, throwing its error as a WardenError. */
export function storageCall(fn) {
  try {
    return fn();
  } catch (e) {
    throw fromError(e, StorageFailure);
  }
}

/**
 * Runs a `wasi:config/store` call, throwing the host's error as
 * ConfigUnavailable; anything else (a key that is not a string) as it is.
 */
export function configCall(fn) {
  try {
    return fn();
  } catch (e) {
    const error = payload(e);
    if (!error || typeof error !== "object" || !("tag" in error)) throw e;
    throw new ConfigUnavailable(String(error.val));
  }
}
