// What the browser benchmarks share: Chromium, and a page signed up as a fresh user.
import { chromium } from "playwright-core";

/** A headless Chromium and a page of it signed in as the user `bench`, on the file browser. */
export async function signedIn(base, viewport) {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
  const page = await browser.newPage(viewport ? { viewport } : {});
  await page.goto(`${base}/signup`);
  await page.fill("input[name=username]", "bench");
  await page.fill("input[name=email]", "bench@example.com");
  await page.fill("input[name=password]", "benchmark password");
  await page.click("button[type=submit]");
  await page.waitForSelector("table.files");
  return { browser, page };
}
