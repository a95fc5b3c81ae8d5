// tests/httpd/web/e2e.js: headless Chromium (Debian's /usr/bin/chromium) on the tsubame-httpd
// web page, driven by playwright-core. Run by tests/httpd/web_test.py with:
//   BASE_URL, USER, PASSWORD, ADMIN, ADMIN_PASSWORD, SUBJECT, USER_DATA_DIR, [SCREENSHOT_DIR]
// Steps: sign in as the user, see the inbox, click "Report spam" on the message with SUBJECT,
// sign out, sign in as the domain's postmaster, open the quarantine, see the report, decide it
// (confirmed). Exit 0 on success; any failure prints why and exits 1.
"use strict";
const { chromium } = require("playwright-core");

const env = (k) => { const v = process.env[k]; if (!v) throw new Error("missing env " + k); return v; };

async function signIn(page, address, password) {
  await page.fill("#login-address", address);
  await page.fill("#login-password", password);
  await page.click("#login-submit");
  await page.waitForSelector("#inbox-view:not([hidden])", { timeout: 20000 });
  const who = await page.textContent("#user-address");
  if (who !== address) throw new Error("signed in as " + who + ", expected " + address);
}

async function main() {
  const base = env("BASE_URL"), subject = env("SUBJECT"), shots = process.env.SCREENSHOT_DIR;
  const context = await chromium.launchPersistentContext(env("USER_DATA_DIR"), {
    executablePath: "/usr/bin/chromium",
    headless: true,
    ignoreHTTPSErrors: true,  // the installation's self-signed certificate
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  try {
    await page.goto(base + "/", { waitUntil: "load" });
    if ((await page.title()) !== "Tsubame Mail") throw new Error("unexpected title " + (await page.title()));

    // A wrong password shows an error and stays on the sign-in form.
    await page.fill("#login-address", env("USER"));
    await page.fill("#login-password", "wrong-password-123");
    await page.click("#login-submit");
    await page.waitForFunction(() => document.getElementById("login-error").textContent.length > 0);

    await signIn(page, env("USER"), env("PASSWORD"));
    const row = page.locator("#inbox-rows tr", { hasText: subject });
    await row.waitFor({ timeout: 20000 });
    if (await page.isVisible("#tab-quarantine")) throw new Error("a user must not see the quarantine tab");
    if (shots) await page.screenshot({ path: shots + "/inbox.png", fullPage: true });
    await row.locator("button.report-spam").click();
    await row.locator("td", { hasText: "Reported" }).waitFor({ timeout: 20000 });
    console.log("reported: " + subject);

    await page.click("#logout");
    await page.waitForSelector("#login-view:not([hidden])");

    await signIn(page, env("ADMIN"), env("ADMIN_PASSWORD"));
    await page.click("#tab-quarantine");
    const rep = page.locator("#quarantine-rows tr", { hasText: subject });
    await rep.waitFor({ timeout: 20000 });
    const reporter = await rep.locator("td").nth(1).textContent();
    if (reporter !== env("USER")) throw new Error("report shows reporter " + reporter);
    await rep.locator("button.decide-confirmed").click();
    await rep.locator("td.report-status", { hasText: "confirmed" }).waitFor({ timeout: 20000 });
    if (shots) await page.screenshot({ path: shots + "/quarantine.png", fullPage: true });
    console.log("decided: confirmed");
    const bad = errors.filter((e) => !/401|Failed to load resource/.test(e));
    if (bad.length) throw new Error("page errors: " + bad.join("; "));
  } finally {
    await context.close();
  }
}

main().then(() => { console.log("e2e ok"); process.exit(0); },
            (e) => { console.error("e2e FAILED: " + (e && e.stack || e)); process.exit(1); });
