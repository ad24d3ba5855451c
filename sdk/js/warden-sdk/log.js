// Structured logging: records land on the invocation's trace and the
// host's logs with the app's name attached (the host caps how many; past
// the cap records are dropped and counted). Never throws.

import { log } from "warden:host/log@0.2.0";

export const trace = (message) => log("trace", String(message));
export const debug = (message) => log("debug", String(message));
export const info = (message) => log("info", String(message));
export const warn = (message) => log("warn", String(message));
export const error = (message) => log("error", String(message));
