// Signs in to the dashboard and reports the audit tail's checkpoint
// status once it is one of the failed ones, as JSON.
//   node drive-checkpoint.cjs <admin-url> <token> <node_modules>
const [, , url, token, modules] = process.argv;
const { run } = require("./launch.cjs");

run(modules, async (page) => {
  await page.goto(url + "/dashboard");
  await page.waitForSelector("#login:not([hidden])");
  await page.fill("#token", token);
  await page.click("#connect");
  await page.waitForSelector("#audit-checkpoint.failed");
  return {
    status: await page.$eval("#audit-checkpoint", (p) => p.dataset.status),
    text: await page.$eval("#audit-checkpoint", (p) => p.textContent),
  };
});
