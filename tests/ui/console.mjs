// Drives the web console in Debian's chromium, headless, through
// playwright-core: open it, pick a user, open a diff, roll back, see the
// new version, plot a field, read the audit log. Screenshots go to DIR.
// With TOKEN (a daemon with an access policy), the page must first refuse,
// then work once the token is entered.
//
//   node tests/ui/console.mjs BASE_URL DIR [TOKEN]   (tests/daemon/test_ui.cpp runs it)

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, dir, token] = process.argv.slice(2);
if (!base || !dir) {
  console.error("usage: node console.mjs BASE_URL SCREENSHOT_DIR");
  process.exit(2);
}
mkdirSync(dir, { recursive: true });

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });

  await page.goto(`${base}/ui`);
  if (token) {
    await page.locator("#status", { hasText: "enter a token above" }).waitFor();
    check(await page.locator("#users button").count() === 0, "without a token the daemon shows nothing");
    await page.fill("#token", token);
    await page.getByRole("button", { name: "Use" }).click();
  }
  const alice = page.locator("#users button", { hasText: "alice" });
  await alice.waitFor();
  check(await page.locator("#users button").count() === 2, "the user list shows both users");

  await alice.click();
  await page.locator("#context-meta", { hasText: "version 3" }).waitFor();
  check((await page.locator("#context-tree").textContent()).includes('"steps"'), "the context shows as a tree");

  await page.getByRole("tab", { name: "Timeline" }).click();
  await page.locator("#timeline tbody tr").nth(2).waitFor();
  check(await page.locator("#timeline tbody tr").count() === 3, "the timeline lists three versions");
  const first = page.locator('#timeline tbody tr[data-version="1"]');
  check((await first.textContent()).includes("nutrition"), "a version's tags show in the timeline");

  await first.getByRole("button", { name: "Diff with head" }).click();
  await page.locator("#diff-summary", { hasText: "changed path" }).waitFor();
  check(await page.locator("#diff-right .added, #diff-right .changed").count() >= 1,
        "the diff highlights what changed, side by side");
  check((await page.locator("#diff-left-title").textContent()).startsWith("version 1"), "the diff's left is version 1");
  await page.screenshot({ path: `${dir}/console-diff.png`, fullPage: true });

  await page.getByRole("tab", { name: "Timeline" }).click();
  await first.getByRole("button", { name: "Roll back here" }).click();
  await page.locator("#confirm-rollback[open]").waitFor();
  check((await page.locator("#confirm-text").textContent()).includes("version 1"), "the rollback asks first");
  await page.locator("#confirm-ok").click();
  await page.locator("#status", { hasText: "Rolled back: version 4" }).waitFor();
  await page.locator('#timeline tbody tr[data-version="4"]').waitFor();
  check((await page.locator('#timeline tbody tr[data-version="4"]').textContent()).includes("rollback to 1"),
        "the new version shows in the timeline as a rollback");
  check((await page.locator("#context-meta").textContent()).includes("version 4"), "the context is at version 4");

  await page.getByRole("tab", { name: "Chart" }).click();
  await page.fill("#chart-field", "/diet/kcal");
  await page.getByRole("button", { name: "Plot" }).click();
  await page.locator("#chart svg").waitFor();
  check(await page.locator("#chart circle").count() >= 3, "the chart plots the field over time");
  await page.screenshot({ path: `${dir}/console-chart.png`, fullPage: true });

  await page.getByRole("tab", { name: "Audit log" }).click();
  await page.locator("#audit tbody tr", { hasText: "rollback" }).first().waitFor();
  await page.fill("#audit-operation", "merge");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#audit tbody tr td:nth-child(2)")].every((td) => td.textContent === "merge"));
  check(await page.locator("#audit tbody tr").count() === 3, "the audit log filters by operation");
  await page.screenshot({ path: `${dir}/console-audit.png`, fullPage: true });

  // A phone-sized screen: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole("tab", { name: "Context" }).click();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, "nothing is wider than a phone's screen");
  await page.screenshot({ path: `${dir}/console-phone.png`, fullPage: true });

  // The refused first request is logged by the browser as a failed load.
  const unexpected = errors.filter((error) => !(token && error.includes("401")));
  check(unexpected.length === 0, `no errors in the page (${unexpected.join("; ")})`);
} finally {
  await browser.close();
}
