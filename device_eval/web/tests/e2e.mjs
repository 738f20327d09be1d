// Drive the served page in headless Debian Chromium (playwright-core, never Playwright's own browser).
// Usage: node tests/e2e.mjs '{"base": "http://127.0.0.1:PORT", "query": "a.png", "notImage": "x.txt",
//                             "screenshot": "out.png"}'
// Prints one JSON line: the search (names, embedding, encode ms) and the page's error messages.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function upload(page, file) {
  await page.setInputFiles('#file', file);
  await page.waitForSelector('body[data-state="results"], body[data-state="error"]', { timeout: 60000 });
  return page.evaluate(() => ({
    state: document.body.dataset.state,
    status: document.getElementById('status').textContent,
    names: [...document.querySelectorAll('#results li')].map((li) => li.dataset.name),
  }));
}

async function open(page, base) {
  await page.goto(`${base}/demo/`);
  await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 60000 });
}

async function run(opts) {
  const profile = mkdtempSync(join(tmpdir(), 'e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true, args: LAUNCH_ARGS, viewport: { width: 1100, height: 900 },
  });
  try {
    const page = await context.newPage();
    const logs = [];
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    await open(page, opts.base);
    const search = await upload(page, opts.query);
    await page.waitForFunction(() => [...document.querySelectorAll('#results img')].every((i) => i.complete));
    Object.assign(search, await page.evaluate(() => ({ embedding: window.lastEmbedding, encodeMs: window.lastEncodeMs })));
    await page.screenshot({ path: opts.screenshot, fullPage: true });
    const notImage = await upload(page, opts.notImage);
    await page.route('**/search', (route) => route.abort('connectionrefused'));
    const unreachable = await upload(page, opts.query);
    await page.unroute('**/search');
    await page.route('**/demo/model.json', async (route) => { // a model keyed for another space
      const res = await route.fetch();
      route.fulfill({ response: res, json: { ...(await res.json()), compat_key: '0123456789abcdef' } });
    });
    await open(page, opts.base);
    const otherTeacher = await upload(page, opts.query);
    return { search, notImage, unreachable, otherTeacher, logs };
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

console.log(JSON.stringify(await run(JSON.parse(process.argv[2]))));
