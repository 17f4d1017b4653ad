// A browser for the Python tests (tests/support/browsers.py), driven by puppeteer-core: Debian's firefox-esr over
// WebDriver BiDi (or Chromium over CDP). It reads one JSON command a line on stdin and answers one JSON line on
// stdout: {"id", "ok": true, "value"} or {"id", "ok": false, "error"}. Nothing is downloaded: the browser is the
// system's, and npm ci ran with PUPPETEER_SKIP_DOWNLOAD=1.
//
//   {"id": 1, "cmd": "launch", "browser": "firefox", "executablePath": "/usr/bin/firefox-esr"}
//   {"id": 2, "cmd": "open"}                          -> a page id, in a fresh browser context (own cookies)
//   {"id": 3, "cmd": "goto", "page": 1, "url": "..."}
"use strict";
import puppeteer from "puppeteer-core";
import readline from "node:readline";

let browser = null;
const pages = new Map(); // id -> {page, context, errors}
let nextPage = 1;

async function page(command) {
  const held = pages.get(command.page);
  if (!held) { throw new Error(`no page ${command.page}`); }
  return held;
}

const commands = {
  async launch(c) {
    browser = await puppeteer.launch({
      browser: c.browser,
      executablePath: c.executablePath,
      headless: true,
      acceptInsecureCerts: true, // the dev home's self-signed certificate
      args: c.args || [],
      // Firefox: no first-run pages, no update or telemetry traffic in a test
      extraPrefsFirefox: {
        "app.update.enabled": false,
        "browser.shell.checkDefaultBrowser": false,
        "datareporting.policy.dataSubmissionEnabled": false,
        "toolkit.telemetry.enabled": false,
      },
    });
    return await browser.version();
  },
  async open() {
    const context = await browser.createBrowserContext();
    const p = await context.newPage();
    const held = {page: p, context, errors: [], failed: []};
    p.on("console", (m) => { if (m.type() === "error") { held.errors.push(`console: ${m.text()}`); } });
    p.on("pageerror", (e) => { held.errors.push(`page error: ${e.message || e}`); });
    p.on("response", (r) => { if (r.status() >= 400) { held.failed.push([r.status(), r.url()]); } });
    p.on("dialog", (d) => { held.errors.push(`dialog: ${d.message()}`); d.dismiss().catch(() => {}); });
    const id = nextPage++;
    pages.set(id, held);
    return id;
  },
  async close(c) {
    const held = await page(c);
    pages.delete(c.page);
    await held.context.close();
    return null;
  },
  async goto(c) {
    const {page: p} = await page(c);
    const response = await p.goto(c.url, {waitUntil: "load"});
    return response ? response.status() : null;
  },
  async fill(c) {
    const {page: p} = await page(c);
    await p.locator(c.selector).fill(c.value);
    return null;
  },
  async click(c) {
    const {page: p} = await page(c);
    await p.click(c.selector);
    return null;
  },
  // Click and wait for the navigation it starts (a form's submit).
  async submit(c) {
    const {page: p} = await page(c);
    await Promise.all([p.waitForNavigation({waitUntil: "load"}), p.click(c.selector)]);
    return p.url();
  },
  async press(c) {
    const {page: p} = await page(c);
    await p.keyboard.press(c.key);
    return null;
  },
  async setFiles(c) {
    const {page: p} = await page(c);
    const input = await p.$(c.selector);
    await input.uploadFile(...c.paths);
    return null;
  },
  async text(c) {
    const {page: p} = await page(c);
    return await p.$eval(c.selector, (e) => e.innerText);
  },
  async value(c) {
    const {page: p} = await page(c);
    return await p.$eval(c.selector, (e) => e.value);
  },
  async evaluate(c) {
    const {page: p} = await page(c);
    return await p.evaluate(c.expression);
  },
  async url(c) {
    const {page: p} = await page(c);
    return p.url();
  },
  async viewport(c) {
    const {page: p} = await page(c);
    await p.setViewport({width: c.width, height: c.height});
    return null;
  },
  async errors(c) {
    const held = await page(c);
    return held.errors.slice();
  },
  async failedLoads(c) {
    const held = await page(c);
    return held.failed.slice();
  },
  async quit() {
    if (browser) { await browser.close(); }
    browser = null;
    return null;
  },
};

const lines = readline.createInterface({input: process.stdin});
let queue = Promise.resolve();
lines.on("line", (line) => {
  queue = queue.then(async () => {
    let command = {};
    try {
      command = JSON.parse(line);
      const run = commands[command.cmd];
      if (!run) { throw new Error(`unknown command ${command.cmd}`); }
      const value = await run(command);
      process.stdout.write(JSON.stringify({id: command.id, ok: true, value: value === undefined ? null : value}) + "\n");
    } catch (e) {
      process.stdout.write(JSON.stringify({id: command.id, ok: false, error: String(e && e.stack || e)}) + "\n");
    }
  });
});
lines.on("close", () => {
  queue.then(() => (browser ? browser.close() : null)).finally(() => process.exit(0));
});
