// Drives headless Debian Chromium (playwright-core) to the page of src/page.mjs, which runs a
// cross-section of core's conformance suite through @denoise/backend-webgpu on the browser's own
// WebGPU, and checks every case. On a machine without a GPU, Chromium's WebGPU runs on its
// bundled SwiftShader Vulkan driver.
//
// Skips, printing why, where /usr/bin/chromium is missing or the page finds no WebGPU adapter;
// with DENOISE_REQUIRE_BROWSER=1 (set by .ci/run, which installs Chromium) those are failures.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundlePage } from '../scripts/bundle.mjs';
import { BROWSER_CASES } from '../src/cases.mjs';
import { startServer } from '../src/server.mjs';

const CHROMIUM = '/usr/bin/chromium';
const REQUIRED = process.env.DENOISE_REQUIRE_BROWSER === '1';
const REPORT_TIMEOUT_MS = 150_000;

// Headless on a closed network: no background requests, no sandbox (CI runs as root), WebGPU on
// Linux is still behind --enable-unsafe-webgpu; the GPU process must stay on (no --disable-gpu).
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
];

let unavailable = null; // why the cases cannot run here, or null
let warned = false;
let report = null; // window.__denoiseReport of the page
const pageLog = [];
let context = null;
let server = null;
let profile = null;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    unavailable = `${CHROMIUM} is missing (Debian: apt-get install chromium)`;
    return;
  }
  await bundlePage();
  server = await startServer();
  profile = mkdtempSync(join(tmpdir(), 'denoise-chromium-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => pageLog.push(m.text()));
  page.on('pageerror', (e) => pageLog.push(`page error: ${e.message}`));
  await page.goto(`${server.url}?cases=${encodeURIComponent(BROWSER_CASES.join(','))}`);
  await page.waitForFunction(() => window.__denoiseReport !== undefined, null, { timeout: REPORT_TIMEOUT_MS });
  report = await page.evaluate(() => window.__denoiseReport);
  if (report.status === 'no-webgpu' || report.status === 'no-adapter') unavailable = `Chromium offers no WebGPU adapter: ${report.reason}`;
}, REPORT_TIMEOUT_MS + 30_000);

afterAll(async () => {
  await context?.close();
  await server?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** Skips the test with the reason, or fails it where the browser test is required. */
function needBrowser(ctx) {
  if (!unavailable) return;
  if (REQUIRED) throw new Error(`${unavailable}; DENOISE_REQUIRE_BROWSER=1 requires the browser test to run`);
  if (!warned) console.warn(`webgpu-browser: skipped: ${unavailable}`);
  warned = true;
  ctx.skip(unavailable);
}

describe('@denoise/backend-webgpu in headless Chromium', () => {
  it('the page opens the backend on a WebGPU adapter', (ctx) => {
    needBrowser(ctx);
    expect(report.status, `${report.reason ?? ''}\n${pageLog.join('\n')}`).toBe('done');
    console.log(`webgpu-browser: adapter ${JSON.stringify(report.adapter)}; ${report.userAgent}`);
    expect(report.results.map((r) => r.name)).toEqual(BROWSER_CASES);
  });

  for (const name of BROWSER_CASES) {
    it(name, (ctx) => {
      needBrowser(ctx);
      const r = report.results?.find((x) => x.name === name);
      expect(r, `no result for ${name}: ${report.status} ${report.reason ?? ''}`).toBeDefined();
      expect(r.message).toBe('ok');
      expect(r.ok).toBe(true);
    });
  }
});
