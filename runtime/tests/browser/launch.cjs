// Headless Chromium (Debian's `chromium`) through playwright-core, with a
// page that records script errors: what every dashboard driver starts with.
const path = require("path");

async function open(modules) {
  const { chromium } = require(path.join(modules, "playwright-core"));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    timeout: 90000,
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 960 } });
  // Generous: the suite runs these beside hundreds of other tests on two
  // cores, and a wait that passes its time fails the test.
  page.setDefaultTimeout(90000);
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  return { browser, page, errors };
}

// Runs `drive` and prints what it returns as JSON; exits 1 on failure.
function run(modules, drive) {
  (async () => {
    const { browser, page, errors } = await open(modules);
    const seen = await drive(page);
    seen.errors = errors;
    console.log(JSON.stringify(seen));
    await browser.close();
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

module.exports = { run };
