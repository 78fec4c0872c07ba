import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIXELS } from '../model/infer.js';
import type { HwrApp } from './app.js';
import { buildTestApp, saveTestModel } from './testing.js';

let root: string;
let hwr: HwrApp;
let withCors: HwrApp;
const pixels = Array.from({ length: PIXELS }, (_, i) => (i % 28 > 10 && i % 28 < 16 ? 255 : 0));

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-security-'));
  await saveTestModel(join(root, 'models', 'digits'));
  // A valid model directory the server must never reach: outside the models folder.
  await saveTestModel(join(root, 'outside', 'secret'), { name: 'secret' });
  await mkdir(join(root, 'web'));
  await writeFile(
    join(root, 'web', 'index.html'),
    '<!doctype html><title>hwr</title><script src="main.js"></script>',
  );
  await writeFile(join(root, 'web', 'main.js'), 'console.log(1);');
  hwr = await buildTestApp(root, { webDir: join(root, 'web') });
  withCors = await buildTestApp(root, {
    webDir: join(root, 'web'),
    dataDir: join(root, 'data2'),
    corsOrigins: ['https://draw.example'],
  });
}, 60_000);

afterAll(async () => {
  await hwr?.app.close();
  await withCors?.app.close();
  await rm(root, { recursive: true, force: true });
});

function directives(csp: string): Map<string, string[]> {
  return new Map(
    csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...values]) => [name, values]),
  );
}

describe('headers of the page', () => {
  it('has a CSP without inline scripts, no framing, nosniff', async () => {
    const res = await hwr.app.inject('/');
    expect(res.statusCode).toBe(200);
    const csp = directives(String(res.headers['content-security-policy']));
    // WebAssembly compilation only (in-browser inference); no JavaScript eval, no inline script.
    expect(csp.get('script-src')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
    expect(csp.get('default-src')).toEqual(["'self'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    expect(csp.get('object-src')).toEqual(["'none'"]);
    expect(csp.get('base-uri')).toEqual(["'self'"]);
    expect(csp.get('script-src-attr')).toEqual(["'none'"]); // no onclick="..." either
    expect(csp.get('style-src')).toEqual(["'self'"]); // the page has no inline styles nor remote ones
    for (const values of csp.values()) {
      expect(values).not.toContain("'unsafe-eval'");
    }
    expect(csp.get('script-src')).not.toContain("'unsafe-inline'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('puts nosniff and the CSP on API answers and errors too', async () => {
    for (const res of [
      await hwr.app.inject('/api/models'),
      await hwr.app.inject({ method: 'POST', url: '/api/predict', payload: { nothing: 1 } }),
    ]) {
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(String(res.headers['content-security-policy'])).toContain("frame-ancestors 'none'");
    }
  });

  it('keeps /docs (Swagger UI) free of unsafe-inline scripts', async () => {
    const res = await hwr.app.inject('/docs/');
    expect(res.statusCode).toBe(200);
    const csp = directives(String(res.headers['content-security-policy']));
    expect(csp.get('script-src')).not.toContain("'unsafe-inline'");
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
  });
});

describe('the page source', () => {
  const pages = [
    fileURLToPath(new URL('../web/index.html', import.meta.url)),
    fileURLToPath(new URL('../../dist/web/index.html', import.meta.url)),
  ].filter((p) => existsSync(p));

  it('has only external scripts and no inline event handlers (so the CSP does not break it)', () => {
    expect(pages.length).toBeGreaterThanOrEqual(1); // src/web/index.html at least
    for (const page of pages) {
      const html = readFileSync(page, 'utf8');
      const scripts = html.match(/<script\b[^>]*>[\s\S]*?<\/script>/gi) ?? [];
      expect(scripts.length).toBeGreaterThan(0);
      for (const s of scripts) {
        expect(s, `${page}: ${s}`).toMatch(/\ssrc="[^"]+"/);
        expect(
          s
            .replace(/^<script\b[^>]*>/i, '')
            .replace(/<\/script>$/i, '')
            .trim(),
        ).toBe('');
      }
      expect(html).not.toMatch(/\son[a-z]+\s*=/i);
      expect(html).not.toMatch(/javascript:/i);
    }
  });
});

describe('CORS', () => {
  it('is off by default: no Access-Control-Allow-Origin, preflight not answered', async () => {
    const get = await hwr.app.inject({ url: '/api/models', headers: { origin: 'https://evil.example' } });
    expect(get.statusCode).toBe(200);
    expect(get.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await hwr.app.inject({
      method: 'OPTIONS',
      url: '/api/predict',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(preflight.statusCode).toBe(404);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight.headers['access-control-allow-methods']).toBeUndefined();
  });

  it('allows only the configured origins when set', async () => {
    const ok = await withCors.app.inject({ url: '/api/models', headers: { origin: 'https://draw.example' } });
    expect(ok.headers['access-control-allow-origin']).toBe('https://draw.example');
    const other = await withCors.app.inject({
      url: '/api/models',
      headers: { origin: 'https://evil.example' },
    });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('request values never reach the file system', () => {
  it.each([
    'secret',
    '../outside/secret',
    '<root>/outside/secret', // the absolute path, filled in below
    'digits/../../outside/secret',
    '..',
    './digits',
  ])('model %j is looked up by name among the served models only', async (given) => {
    const model = given.replace('<root>', root);
    const res = await hwr.app.inject({ method: 'POST', url: '/api/predict', payload: { pixels, model } });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe(`unknown model "${model}"; served models: "digits"`);
  });

  it('does not serve files outside the web folder', async () => {
    await writeFile(join(root, 'private.txt'), 'not for the web');
    for (const url of [
      '/../private.txt',
      '/%2e%2e/private.txt',
      '/..%2fprivate.txt',
      '/%2e%2e%2fprivate.txt',
      '/main.js/..%2f..%2fprivate.txt',
    ]) {
      const res = await hwr.app.inject(url);
      expect(res.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(res.body, url).not.toContain('not for the web');
    }
    expect((await hwr.app.inject('/main.js')).body).toBe('console.log(1);');
  });
});
