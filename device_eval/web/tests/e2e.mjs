// Drive the served page in headless Debian Chromium (playwright-core, never Playwright's own browser).
// Usage: node tests/e2e.mjs '{"base": "http://127.0.0.1:PORT", "query": "a.png", "notImage": "x.txt",
//                             "screenshot": "out.png", "apiKey": "…" (optional: the server's)}'
// Prints one JSON line: the search (names, embedding, encode ms), the page's error messages, the requests the
// page sent and the server answers it read, each checked with ajv against its JSON Schema (device_eval/schemas).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import Ajv2020 from 'ajv/dist/2020.js';
import { chromium } from 'playwright-core';

const SCHEMAS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'schemas');

/** Validators of the contracts the page reads, by schema name. */
function validators() {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const load = (name) => ajv.compile(JSON.parse(readFileSync(join(SCHEMAS, `${name}.schema.json`), 'utf8')));
  return { 'search-request': load('search-request'), 'search-response': load('search-response'), error: load('error') };
}

/** Record every /search request the page sends and answer it gets, each checked against its schema. */
function checkAnswers(page, checked, sent, apiKey) {
  const validate = validators();
  page.on('request', (req) => {
    if (!req.url().endsWith('/search')) return;
    const body = JSON.parse(req.postData() || 'null');
    const ok = validate['search-request'](body);
    const keyed = Boolean(apiKey) && req.headers().authorization === `Bearer ${apiKey}`; // (the key is not printed)
    sent.push({ body, keyed, errors: ok ? [] : validate['search-request'].errors });
  });
  page.on('response', async (res) => {
    if (!res.url().endsWith('/search')) return;
    const name = res.ok() ? 'search-response' : 'error';
    const body = await res.json().catch(() => null);
    const ok = validate[name](body);
    checked.push({ name, status: res.status(), code: body && body.code, errors: ok ? [] : validate[name].errors });
  });
}

const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function upload(page, file) {
  await page.setInputFiles('#file', []); // (choosing the file chosen last would fire no change event)
  await page.evaluate(() => { document.body.dataset.state = 'uploading'; }); // (not the previous upload's end state)
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
    const answers = [];
    const requests = [];
    checkAnswers(page, answers, requests, opts.apiKey);
    await open(page, opts.base);
    let noKey = null;
    if (opts.apiKey) { // first without the key, as a user who has not entered it yet
      noKey = await upload(page, opts.query);
      await page.fill('#apikey', opts.apiKey);
    }
    const search = await upload(page, opts.query);
    await page.waitForFunction(() => [...document.querySelectorAll('#results img')]
      .every((i) => i.complete && i.naturalWidth > 0));
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
    if (opts.apiKey) await page.fill('#apikey', opts.apiKey);
    const otherTeacher = await upload(page, opts.query);
    return { search, noKey, notImage, unreachable, otherTeacher, logs, answers, requests };
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

console.log(JSON.stringify(await run(JSON.parse(process.argv[2]))));
