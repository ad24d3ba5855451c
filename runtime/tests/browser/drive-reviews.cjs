// Drives the dashboard's review queue in headless Chromium: signs in as a
// reviewer, reads the held deploy's reasons and changes from the live
// version, approves it with the button, reads the outcome line and waits
// until the queue is empty, and prints what it saw as JSON for the Rust
// test to check.
//   node drive-reviews.cjs <admin-url> <token> <screenshot.png> <node_modules>
const [, , url, token, shot, modules] = process.argv;
const { run } = require("./launch.cjs");

run(modules, async (page) => {
  await page.goto(url + "/dashboard");
  await page.waitForSelector("#login:not([hidden])");
  await page.fill("#token", token);
  await page.click("#connect");
  await page.waitForSelector("#reviews .review");
  const seen = {
    who: await page.$eval("#who", (w) => w.textContent),
    reviews: await page.$$eval("#reviews .review", (r) => r.map((x) => x.dataset.app)),
    reasons: await page.$$eval("#reviews .review .reasons li", (l) => l.map((x) => x.textContent)),
    changes: await page.$$eval("#reviews .review .changes li", (l) => l.map((x) => x.textContent)),
    buttons: await page.$$eval("#reviews .review button", (b) => b.map((x) => x.textContent)),
  };
  await page.screenshot({ path: shot, fullPage: true });
  await page.click("#reviews .review button.approve");
  // The outcome line outlives the card, which the refresh replaces; an
  // error lands there too, and the Rust test prints it.
  await page.waitForSelector("#review-result:not(:empty)");
  seen.result = await page.$eval("#review-result", (r) => r.textContent);
  if (!seen.result.includes(": approved, now ")) return seen;
  await page.waitForFunction(() => !document.querySelector("#reviews .review"), null);
  seen.after = await page.$eval("#reviews-list", (l) => l.textContent);
  return seen;
});
