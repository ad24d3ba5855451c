// Configuration values: [config] in the app's app.toml, under the
// platform's [config.apps.NAME] in warden.toml, whose values win. Values
// are strings; a secret is never one (reach it through a connector).

import * as host from "wasi:config/store@0.2.0-rc.1";
import { ConfigMissing, configCall } from "./errors.js";

/** The value of `key`, or `fallback` when nobody set it. */
export async function get(key, fallback) {
  const value = configCall(() => host.get(key));
  return value === undefined ? fallback : value;
}

/** The value of `key`; throws ConfigMissing when nobody set it. */
export async function require(key) {
  const value = configCall(() => host.get(key));
  if (value === undefined) throw new ConfigMissing(key);
  return value;
}

/** Every value the app can read, as an object. */
export async function all() {
  return Object.fromEntries(configCall(() => host.getAll()));
}
