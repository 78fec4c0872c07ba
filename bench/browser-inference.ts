/**
 * In-browser inference backends (docs/offline.md): builds bench/browser with Vite, serves it beside a
 * model directory, and times in headless Chromium one drawing's CNN + stroke-part pass on TF.js's cpu
 * and wasm backends in the same page. Prints load, first-pass, median and fastest times and the
 * ratio cpu / wasm.
 *
 *   npm run bench:browser -- [--model models/digits] [--runs 30]
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { build } from 'vite';

const { values } = parseArgs({
  options: { model: { type: 'string', default: 'models/digits' }, runs: { type: 'string', default: '30' } },
});
const modelDir = resolve(values.model);
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  console.error('--runs must be a positive integer');
  process.exit(2);
}

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

const out = mkdtempSync(join(tmpdir(), 'hwr-bench-browser-'));
try {
  await build({
    root: resolve('bench/browser'),
    base: './',
    logLevel: 'warn',
    build: { outDir: out, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2000 },
  });
  // The page from the build, the model under /model/ (normalize keeps requests inside the two roots).
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const file = path.startsWith('/model/')
      ? join(modelDir, path.slice('/model/'.length))
      : join(out, path === '/' ? 'index.html' : path);
    try {
      const data = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(data);
    } catch {
      res.writeHead(404).end();
    }
  }).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/?runs=${runs}`);
    await page.waitForFunction(() => document.getElementById('out')?.textContent !== 'running', undefined, {
      timeout: 300_000,
    });
    const text = (await page.locator('#out').textContent()) ?? '';
    if (text.startsWith('ERROR')) throw new Error(text);
    const rows = JSON.parse(text) as {
      backend: string;
      loadMs: number;
      firstMs: number;
      medianMs: number;
      minMs: number;
    }[];
    console.log(
      `model ${modelDir}, ${runs} passes of batch 1 per backend, load average ${loadavg()[0].toFixed(2)}`,
    );
    console.log('backend  load ms  first ms  median ms  min ms');
    for (const r of rows)
      console.log(
        `${r.backend.padEnd(7)} ${r.loadMs.toFixed(0).padStart(8)} ${r.firstMs.toFixed(1).padStart(9)} ${r.medianMs.toFixed(1).padStart(10)} ${r.minMs.toFixed(1).padStart(7)}`,
      );
    const [cpu, wasm] = rows;
    console.log(`ratio cpu / wasm (median): ${(cpu.medianMs / wasm.medianMs).toFixed(1)}`);
  } finally {
    await browser.close();
    server.close();
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
