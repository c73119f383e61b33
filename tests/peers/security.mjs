// Loads one URL in Debian's headless chromium (driven by playwright-core)
// with JavaScript on, and prints, as one JSON line, what the page's own
// security did:
//   violations      every `securitypolicyviolation` event (listener
//                   installed before any page script): effectiveDirective,
//                   violatedDirective, blockedURI, disposition, sample
//   console_errors  console messages of type error
//   page_errors     uncaught exceptions
//   marks           window.__marks (each test script pushes one)
//   images          every <img>: id, complete, naturalWidth
//   sri_color       computed colour of #sri-target, if any
//   responses       every response: url, status, sha256 (hex) of its body
//   origin          location.origin
// Usage: node security.mjs URL [WAIT_MARKS]
//   WAIT_MARKS: wait (up to 5 s) until window.__marks has this many
//   entries before reading the page (a fetch completes after `load`).
// Only requests to the page's own origin are let through; anything else
// (third-party hosts a page names) fails at once.
import { createHash } from "node:crypto";
import { chromium } from "playwright-core";

const url = process.argv[2];
const waitMarks = Number(process.argv[3] || 0);
if (!url) {
  console.error("usage: node security.mjs URL [WAIT_MARKS]");
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
  const context = await browser.newContext();
  const page = await context.newPage();
  const own = new URL(url).origin;
  await page.route("**/*", (route) =>
    route.request().url().startsWith(own) ? route.continue() : route.abort()
  );
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__violations.push({
        effectiveDirective: e.effectiveDirective,
        violatedDirective: e.violatedDirective,
        blockedURI: e.blockedURI,
        disposition: e.disposition,
        sample: e.sample,
      });
    });
  });
  const consoleErrors = [];
  const pageErrors = [];
  const pending = [];
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("response", (r) => {
    pending.push(
      r
        .body()
        .then((b) => ({
          url: r.url(),
          status: r.status(),
          sha256: createHash("sha256").update(b).digest("hex"),
        }))
        .catch(() => ({ url: r.url(), status: r.status(), sha256: null }))
    );
  });
  await page.goto(url, { waitUntil: "load", timeout: 60000 });
  if (waitMarks > 0) {
    await page
      .waitForFunction((n) => (window.__marks || []).length >= n, waitMarks, {
        timeout: 5000,
      })
      .catch(() => {});
  }
  // Let late violations (fetches, images) be reported.
  await page.waitForTimeout(300);
  const result = await page.evaluate(() => {
    const target = document.getElementById("sri-target");
    return {
      violations: window.__violations || [],
      marks: window.__marks || [],
      images: Array.from(document.images, (i) => ({
        id: i.id,
        complete: i.complete,
        naturalWidth: i.naturalWidth,
      })),
      sri_color: target ? getComputedStyle(target).color : null,
      origin: location.origin,
    };
  });
  const responses = await Promise.all(pending);
  console.log(
    JSON.stringify({
      ...result,
      console_errors: consoleErrors,
      page_errors: pageErrors,
      responses,
    })
  );
} finally {
  await browser.close();
}
