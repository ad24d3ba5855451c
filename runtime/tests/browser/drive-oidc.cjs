// Signs in to the dashboard through the identity provider (authorization
// code with PKCE) in headless Chromium, then uses the admin's kill and
// unkill buttons on one app, and prints what it saw as JSON.
//   node drive-oidc.cjs <admin-url> <app> <screenshot.png> <node_modules>
const [, , url, app, shot, modules] = process.argv;
const { run } = require("./launch.cjs");

run(modules, async (page) => {
  await page.goto(url + "/dashboard");
  await page.waitForSelector("#oidc:not([hidden])");
  await page.click("#oidc-login");
  // To the provider and back: the apps table appears once signed in.
  await page.waitForSelector(`#apps tr[data-app="${app}"]`);
  const seen = {
    who: await page.$eval("#who", (w) => w.textContent),
    address: page.url(),
    token: await page.evaluate(() => (sessionStorage.getItem("warden-token") || "").split(".").length),
  };
  const row = `#apps tr[data-app="${app}"]`;
  await page.click(`${row} button.kill`);
  seen.withoutReason = await page.$eval("#switch-result", (r) => r.textContent);
  await page.fill("#kill-reason", "drill from the dashboard");
  await page.click(`${row} button.kill`);
  await page.waitForSelector(`${row} td.state-killed`);
  seen.afterKill = await page.$eval(`${row} td:nth-child(3)`, (c) => c.textContent);
  await page.screenshot({ path: shot, fullPage: true });
  await page.click(`${row} button.unkill`);
  await page.waitForSelector(`${row} td.state-running`);
  seen.afterUnkill = await page.$eval(`${row} td:nth-child(3)`, (c) => c.textContent);
  return seen;
});
