// Warden's JavaScript SDK: a micro app in a few lines, with Warden's
// governed capabilities — approved connectors, classified storage,
// configuration, logs — as async functions with typed errors. Types:
// warden.d.ts; reference: README.md beside this file.
//
//     import { defineHandler, connectors, log, Bucket } from "warden";
//
//     const orders = new Bucket("orders");
//     export const handler = defineHandler(async (request) => {
//       const order = request.json();
//       await orders.setJson(order.name, order, { ttl: 86400 });
//       log.info(`order from ${order.name}`);
//       return { ok: true };
//     });
//
// `warden build` bundles this file with the app as the module "warden".

export * as connectors from "./warden-sdk/connectors.js";
export * as storage from "./warden-sdk/storage.js";
export * as config from "./warden-sdk/config.js";
export * as log from "./warden-sdk/log.js";
export { Bucket } from "./warden-sdk/storage.js";
export { Response } from "./warden-sdk/connectors.js";
export { defineHandler, Request, describeFailure } from "./warden-sdk/handler.js";
export {
  WardenError,
  Denied,
  NotGranted,
  QuotaExceeded,
  Timeout,
  Upstream,
  TooLarge,
  StorageFailure,
  ConfigMissing,
  ConfigUnavailable,
  Refuse,
} from "./warden-sdk/errors.js";
