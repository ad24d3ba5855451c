// Drives the dashboard in headless Chromium (Debian's `chromium`) with
// playwright-core: signs in, opens an app, waits for its trace waterfall,
// usage chart and the audit tail, downloads the app's audit export,
// waits for the audit tail's checkpoint status, keeps a screenshot, and
// prints what it saw as JSON for the Rust test to check.
//   node drive-dashboard.cjs <admin-url> <token> <screenshot.png> <export.tar> <node_modules>
const [, , url, token, shot, exportTo, modules] = process.argv;
const { run } = require("./launch.cjs");

run(modules, async (page) => {
  await page.goto(url + "/dashboard");
  await page.waitForSelector("#login:not([hidden])");
  await page.fill("#token", token);
  await page.click("#connect");
  await page.waitForSelector('#apps tr[data-app="noop"]');
  await page.click('#apps tr[data-app="noop"]');
  await page.waitForSelector("#waterfall .span-bar");
  await page.waitForSelector("#usage-chart rect.bar");
  await page.waitForSelector("#audit-list li");
  // Pick the failed invocation so the waterfall shows it. By selector,
  // not by a handle: the periodic refresh rebuilds the list.
  await page.click("#traces-list button.error");
  await page.waitForSelector("#traces-list button.error.selected");
  const seen = {
    apps: await page.$$eval("#apps tr", (rows) => rows.map((r) => r.dataset.app)),
    states: await page.$$eval("#apps tr td:nth-child(3)", (c) => c.map((x) => x.textContent)),
    meters: await page.$$eval("#apps .meter", (m) => m.length),
    quotas: await page.$$eval("#apps .quota", (q) => q.map((e) => e.textContent)),
    drills: await page.$$eval("#apps td.drill", (c) => c.map((x) => x.textContent)),
    traces: await page.$$eval("#traces-list button", (b) => b.length),
    spanBars: await page.$$eval("#waterfall .span-bar", (b) => b.length),
    errorBars: await page.$$eval("#waterfall .span-bar.error", (b) => b.length),
    waterfallRows: await page.$$eval("#waterfall .row span:first-child", (s) => s.map((x) => x.textContent)),
    usageBars: await page.$$eval("#usage-chart rect.bar", (r) => r.length),
    traceFacts: await page.$eval("#trace-facts", (p) => p.textContent),
    audit: await page.$$eval("#audit-list li", (l) => l.map((x) => x.textContent)),
  };
  await page.screenshot({ path: shot, fullPage: true });
  // The auditor's download: a deployed app's export, as a file.
  await page.click('#apps tr[data-app="ledger"]');
  await page.waitForSelector("#detail-title:has-text('ledger')");
  await page.waitForSelector('#audit-checkpoint[data-status="verified"]');
  const before = await page.$eval("#audit-checkpoint", (p) => p.textContent);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
  await download.saveAs(exportTo);
  await page.waitForSelector("#export-result:has-text('downloaded')");
  // The export signed a checkpoint: the status follows within a refresh.
  await page.waitForFunction((was) => {
    const line = document.querySelector("#audit-checkpoint");
    return line.dataset.status === "verified" && line.textContent !== was;
  }, before);
  seen.checkpointBefore = before;
  seen.exportName = download.suggestedFilename();
  seen.exportResult = await page.$eval("#export-result", (p) => p.textContent);
  seen.checkpoint = await page.$eval("#audit-checkpoint", (p) => p.textContent);
  return seen;
});
