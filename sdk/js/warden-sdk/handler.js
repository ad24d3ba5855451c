// The app's entry point: `export const handler = defineHandler(fn)` wires
// `fn` to the component's warden:host/handler export.

import { setContentType, setStatus } from "warden:host/reply@0.2.0";
import { Refuse } from "./errors.js";
import { toText } from "./bytes.js";

/** What the app was invoked with: the HTTP body, `warden run --input`, or a schedule's input. */
export class Request {
  constructor(body) {
    /** The input, as bytes. */
    this.body = body;
  }

  /** The input as UTF-8 text. */
  text() {
    return toText(this.body);
  }

  /** The input parsed as JSON; an empty input is null. Input that is not JSON throws Refuse(400). */
  json() {
    const text = this.text();
    if (!text.trim()) return null;
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new Refuse(400, `the input is not JSON: ${e.message}`);
    }
  }
}

const encoder = new TextEncoder();

function answer(value) {
  if (value === undefined || value === null) return new Uint8Array();
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") {
    setContentType("text/plain; charset=utf-8");
    return encoder.encode(value);
  }
  setContentType("application/json");
  return encoder.encode(JSON.stringify(value));
}

// Frames of this SDK are not the app's line.
const SDK_FILE = /(^|\/)(warden|warden-sdk\/[^:]*)$/;

/**
 * `Name: message (file:line)`: the language's own words, and where in the
 * app (the innermost frame outside this SDK). SpiderMonkey writes a stack
 * frame as `function@file:line:column`.
 */
export function describeFailure(e) {
  if (!(e instanceof Error)) return `uncaught ${typeof e}: ${String(e)}`;
  let where = "";
  for (const line of String(e.stack || "").split("\n")) {
    const m = /@(.*):(\d+):\d+$/.exec(line.trim());
    if (m && !SDK_FILE.test(m[1])) {
      where = ` (${m[1].split("/").pop()}:${m[2]})`;
      break;
    }
  }
  return `${e.name}: ${e.message}${where}`;
}

/**
 * Makes `fn` the app's handler: it gets a Request and returns (or
 * resolves to) the answer — a Uint8Array as it is, a string as UTF-8
 * text, any other value as JSON (with `content-type: application/json`).
 * Throw Refuse for a caller's mistake; any other error fails the
 * invocation with its name, message and the app's line, which Warden
 * shows in `warden run` and the trace (the HTTP caller gets a plain 500).
 *
 *     export const handler = defineHandler(async (request) => ({ ok: true }));
 */
export function defineHandler(fn) {
  if (typeof fn !== "function") throw new TypeError("defineHandler needs a function");
  return {
    async handle(input) {
      try {
        return answer(await fn(new Request(input)));
      } catch (e) {
        if (e instanceof Refuse) {
          setStatus(e.status);
          throw e.message;
        }
        throw describeFailure(e);
      }
    },
  };
}
