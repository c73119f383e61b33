// Loads one URL in Debian's headless chromium (driven by playwright-core,
// no downloaded browser) and prints, as one JSON line:
//   fcp_ms      first-contentful-paint, ms after navigation start
//   dcl_ms      DOMContentLoaded, ms after navigation start (≈ body end)
//   load_ms     wall-clock ms from goto() until the load event
//   links       every <a href> of the document, as the browser resolved it
//   origin      location.origin of the document
// Usage: node first_paint.mjs URL
import { chromium } from "playwright-core";

const url = process.argv[2];
if (!url) {
  console.error("usage: node first_paint.mjs URL");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  // Only the edge is reachable: anything else (third-party hosts the page
  // still names) fails at once instead of waiting on a closed network.
  const edge = new URL(url).origin;
  await page.route("**/*", (route) =>
    route.request().url().startsWith(edge) ? route.continue() : route.abort()
  );
  const started = Date.now();
  await page.goto(url, { waitUntil: "load", timeout: 60000 });
  const load_ms = Date.now() - started;
  const result = await page.evaluate(() => {
    const fcp = performance.getEntriesByName("first-contentful-paint")[0];
    const nav = performance.getEntriesByType("navigation")[0];
    return {
      fcp_ms: fcp ? fcp.startTime : null,
      dcl_ms: nav ? nav.domContentLoadedEventStart : null,
      response_end_ms: nav ? nav.responseEnd : null,
      links: Array.from(document.querySelectorAll("a[href]"), (a) => a.href),
      origin: location.origin,
    };
  });
  console.log(JSON.stringify({ ...result, load_ms }));
} finally {
  await browser.close();
}
