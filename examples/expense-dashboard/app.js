// An expense-report dashboard in JavaScript, on Warden's SDK.
//
// GET (or POST {}) answers the open expense reports, summed per
// submitter: read from the CRM through the `crm` connector (read scope
// only) and cached for five minutes in an `internal` bucket. POST
// {"post": true} also posts the summary to the team chat, whose channel
// is a configuration value. The summary names submitters by email; the
// platform's DLP redacts them on the way to the chat — the app does
// nothing for it, and never sees the CRM's or the chat's credential.
// POST {"approve": "EXP-101"} tries to approve a report, which needs the
// CRM's write scope this app was not granted: the platform refuses it
// before anything leaves, and the trace says why.

import { defineHandler, connectors, config, log, Bucket, Denied, Refuse } from "warden";

const cache = new Bucket("reports");

async function openReports() {
  const cached = await cache.getJson("open");
  if (cached !== undefined) return { rows: cached, cached: true };
  const answer = await connectors.get("crm", "/expenses?status=open");
  if (!answer.ok) throw new Refuse(502, `the CRM answered ${answer.status}`);
  const rows = answer.json();
  await cache.setJson("open", rows, { ttl: 300 });
  return { rows, cached: false };
}

function summarise(rows) {
  const bySubmitter = {};
  for (const row of rows) {
    bySubmitter[row.submitter] = (bySubmitter[row.submitter] || 0) + row.amount;
  }
  const total = rows.reduce((sum, row) => sum + row.amount, 0);
  return { count: rows.length, total: Math.round(total * 100) / 100, bySubmitter };
}

export const handler = defineHandler(async (request) => {
  const asked = request.json() ?? {};
  if (typeof asked !== "object" || Array.isArray(asked)) {
    throw new Refuse(400, 'send a JSON object: {} for the summary, {"post": true} to post it');
  }
  if (asked.fail) {
    // What a creator's bug looks like from outside: the error's name,
    // message and line, not a wasm backtrace.
    null.total;
  }
  if (asked.approve) {
    const path = `/expenses/${encodeURIComponent(String(asked.approve))}/approve`;
    try {
      await connectors.call("crm", "POST", path);
    } catch (e) {
      if (e instanceof Denied) throw new Refuse(403, `the platform refused: ${e.message}`);
      throw e;
    }
    return { approved: asked.approve };
  }
  const { rows, cached } = await openReports();
  const summary = summarise(rows);
  log.info(`${summary.count} open reports (${cached ? "cached" : "from the CRM"})`);
  if (!asked.post) return { ...summary, cached };
  const top = Object.entries(summary.bySubmitter).sort((a, b) => b[1] - a[1])[0];
  const text =
    `Open expenses: ${summary.count}, total ${summary.total.toFixed(2)}` +
    (top ? `; most from ${top[0]} (${top[1].toFixed(2)})` : "");
  const channel = await config.get("channel", "#finance");
  const posted = await connectors.postJson("chat", "/messages", { channel, text });
  return { ...summary, cached, posted: posted.ok };
});
