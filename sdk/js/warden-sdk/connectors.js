// Calling approved SaaS connectors by name. The host checks the app's
// grant and scopes, counts the call against its quotas, adds the
// connector's credential (which the app never sees) and returns the
// upstream's answer. Redirects are returned, not followed.

import { call as hostCall } from "warden:host/connectors@0.2.0";
import { connectorCall } from "./errors.js";
import { toBytes, toPairs, toText } from "./bytes.js";

/** The upstream's answer. */
export class Response {
  constructor(status, headers, body) {
    /** The HTTP status. */
    this.status = status;
    /** The headers, as [name, value] pairs. */
    this.headers = headers;
    /** The body, as bytes. */
    this.body = body;
  }

  /** Whether the status is 2xx. */
  get ok() {
    return this.status >= 200 && this.status < 300;
  }

  /** The body as UTF-8 text. */
  text() {
    return toText(this.body);
  }

  /** The body parsed as JSON (throws SyntaxError if it is not). */
  json() {
    return JSON.parse(this.text());
  }

  /** The first header called `name` (any case), or undefined. */
  header(name) {
    const wanted = name.toLowerCase();
    const found = this.headers.find(([k]) => k.toLowerCase() === wanted);
    return found ? found[1] : undefined;
  }
}

/**
 * Sends `method path` (relative to the connector's base URL, query
 * included) to `connector`, with optional `headers` and `body`.
 */
export async function call(connector, method, path, { headers, body } = {}) {
  const answer = connectorCall(() =>
    hostCall(connector, {
      method: String(method).toUpperCase(),
      path: String(path),
      headers: toPairs(headers),
      body: body === undefined ? new Uint8Array() : toBytes(body),
    }),
  );
  return new Response(answer.status, answer.headers, answer.body);
}

/** `GET path` on `connector`. */
export async function get(connector, path, { headers } = {}) {
  return call(connector, "GET", path, { headers });
}

/**
 * `POST path` on `connector` with `value` as a JSON body (and
 * `content-type: application/json` unless `headers` set one).
 */
export async function postJson(connector, path, value, { headers } = {}) {
  const pairs = toPairs(headers);
  if (!pairs.some(([k]) => k.toLowerCase() === "content-type")) {
    pairs.push(["content-type", "application/json"]);
  }
  return call(connector, "POST", path, { headers: pairs, body: JSON.stringify(value) });
}
