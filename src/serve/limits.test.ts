import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeGrayPng } from '../data/image-codec.js';
import { PIXELS } from '../model/infer.js';
import { buildApp, type HwrApp, type ServeOptions } from './app.js';
import { DEFAULT_LIMITS, LIMIT_ENV, type Limits, safeParseLimits } from './limits.js';
import { buildTestApp, saveTestModel } from './testing.js';

let root: string;
const apps: HwrApp[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-limits-'));
  await saveTestModel(join(root, 'models', 'digits'));
}, 60_000);

afterAll(async () => {
  for (const a of apps) await a.app.close();
  await rm(root, { recursive: true, force: true });
});

async function appWith(limits: Partial<Limits>, extra: ServeOptions = {}): Promise<HwrApp> {
  const hwr = await buildTestApp(root, {
    dataDir: join(root, `data-${apps.length}`),
    limits,
    ...extra,
  });
  apps.push(hwr);
  return hwr;
}

const ring = (points: number, r = 40): [number, number][] =>
  Array.from({ length: points }, (_, i) => [
    50 + r * Math.cos((i / points) * 2 * Math.PI),
    50 + r * Math.sin((i / points) * 2 * Math.PI),
  ]);
const pixels = Array.from({ length: PIXELS }, (_, i) => (i % 28 > 10 && i % 28 < 16 ? 255 : 0));

function post(hwr: HwrApp, url: string, payload: object, remoteAddress?: string) {
  return hwr.app.inject({ method: 'POST', url, payload, remoteAddress });
}

describe('safeParseLimits', () => {
  it('gives the defaults when nothing is set', () => {
    expect(safeParseLimits()).toEqual({ success: true, data: DEFAULT_LIMITS });
  });

  it('reads the environment, and overrides beat it', () => {
    const env = {
      [LIMIT_ENV.predictPerMinute]: '10',
      [LIMIT_ENV.bodyLimit]: '4096',
      HWR_TRUST_PROXY: 'true',
    };
    const r = safeParseLimits({ predictPerMinute: '20' }, env);
    expect(r.success && r.data).toMatchObject({ predictPerMinute: 20, bodyLimit: 4096, trustProxy: true });
  });

  it('names every bad value and its source', () => {
    const r = safeParseLimits(
      { maxBatchInputs: 65, maxPoints: 1.5 },
      { HWR_RATE_FEEDBACK: 'lots', HWR_TRUST_PROXY: 'yes' },
    );
    expect(r.success).toBe(false);
    if (r.success) return;
    expect(r.errors).toEqual([
      'maxBatchInputs must be an integer from 1 to 64, got "65"',
      'maxPoints must be an integer from 1 to 5000, got "1.5"',
      'HWR_RATE_FEEDBACK must be an integer from 0 to 1000000000, got "lots"',
      'HWR_TRUST_PROXY must be true or false, got "yes"',
    ]);
  });

  it('makes buildApp refuse invalid limits', async () => {
    await expect(buildApp({ webDir: false, watch: false, limits: { bodyLimit: 10 } })).rejects.toThrow(
      /invalid limits: bodyLimit must be an integer from 1024/,
    );
  });
});

describe('size caps', () => {
  it('answers 413 with a JSON error over the body limit, and serves bodies under it', async () => {
    const hwr = await appWith({ bodyLimit: 8192 });
    const ok = await post(hwr, '/api/predict', { pixels });
    expect(ok.statusCode).toBe(200);
    const big = await post(hwr, '/api/predict', { pixels, pad: 'x'.repeat(9000) });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toEqual({
      error: 'request body is larger than the limit of 8192 bytes',
      code: 'too_large',
      statusCode: 413,
    });
  });

  it('refuses an image over the decode cap from its header, and decodes one at the cap', async () => {
    const hwr = await appWith({ maxImagePixels: 100 * 100 });
    const png = (w: number, h: number) => {
      const gray = new Uint8Array(w * h).fill(255);
      for (let y = 20; y < 80; y++) for (let x = 40; x < 50; x++) gray[y * w + x] = 0;
      return Buffer.from(encodeGrayPng(gray, w, h)).toString('base64');
    };
    const atCap = await post(hwr, '/api/predict', { image: png(100, 100) });
    expect(atCap.statusCode).toBe(200);
    const over = await post(hwr, '/api/predict', { image: png(101, 100) });
    expect(over.statusCode).toBe(400);
    expect(over.json().error).toBe(
      'image is 101x100 (10100 pixels), more than the 10000 allowed; send a smaller image',
    );
    const inBatch = await post(hwr, '/api/predict/batch', {
      inputs: [{ image: png(100, 100) }, { image: png(120, 90) }],
    });
    expect(inBatch.statusCode).toBe(400);
    expect(inBatch.json().error).toMatch(/^inputs\[1\]: image is 120x90/);
  });

  it('caps strokes and points per input, in single and batch requests', async () => {
    const hwr = await appWith({ maxStrokes: 3, maxPoints: 100 });
    expect((await post(hwr, '/api/predict', { strokes: [ring(50), ring(50, 20)] })).statusCode).toBe(200);
    const strokes = await post(hwr, '/api/predict', { strokes: [ring(5), ring(5), ring(5), ring(5)] });
    expect(strokes.statusCode).toBe(400);
    expect(strokes.json().error).toBe('too many strokes: 4 (at most 3)');
    const points = await post(hwr, '/api/feedback', { strokes: [ring(60), ring(41)], label: '0' });
    expect(points.statusCode).toBe(400);
    expect(points.json().error).toBe('too many points: 101 (at most 100 in all)');
    const batch = await post(hwr, '/api/predict/batch', { inputs: [{ pixels }, { strokes: [ring(101)] }] });
    expect(batch.statusCode).toBe(400);
    expect(batch.json().error).toBe('inputs[1]: too many points: 101 (at most 100 in all)');
  });

  it('caps the inputs of a batch', async () => {
    const hwr = await appWith({ maxBatchInputs: 2 });
    expect((await post(hwr, '/api/predict/batch', { inputs: [{ pixels }, { pixels }] })).statusCode).toBe(
      200,
    );
    const over = await post(hwr, '/api/predict/batch', { inputs: [{ pixels }, { pixels }, { pixels }] });
    expect(over.statusCode).toBe(400);
    expect(over.json().error).toBe('too many inputs: 3 (at most 2 per batch)');
  });
});

describe('rate limits', () => {
  it('answers 429 with a JSON error and Retry-After past the per-IP limit of each route', async () => {
    const hwr = await appWith({ predictPerMinute: 3, feedbackPerMinute: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await post(hwr, '/api/predict', { pixels })).statusCode);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await post(hwr, '/api/predict', { pixels });
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toEqual({
      error: 'too many requests: at most 3 per minute from one client; retry in 1 minute',
      code: 'too_many_requests',
      statusCode: 429,
    });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['x-ratelimit-limit']).toBe('3');
    // Invalid bodies are counted too (the limit runs before parsing).
    expect((await post(hwr, '/api/predict', { nonsense: true })).statusCode).toBe(429);

    // Another client has its own budget; feedback has its own lower limit.
    expect((await post(hwr, '/api/predict', { pixels }, '10.0.0.2')).statusCode).toBe(200);
    const fb = [];
    for (let i = 0; i < 3; i++)
      fb.push((await post(hwr, '/api/feedback', { pixels, label: '1' })).statusCode);
    expect(fb).toEqual([201, 201, 429]);
    // Other routes are not limited.
    for (let i = 0; i < 5; i++) expect((await hwr.app.inject('/healthz')).statusCode).toBe(200);
    expect((await hwr.app.inject('/api/models')).statusCode).toBe(200);
  });

  it('keys on X-Forwarded-For only when trustProxy is set', async () => {
    const send = (hwr: HwrApp, ip: string) =>
      hwr.app.inject({
        method: 'POST',
        url: '/api/predict',
        payload: { pixels },
        headers: { 'x-forwarded-for': ip },
      });
    const direct = await appWith({ predictPerMinute: 1 });
    expect((await send(direct, '1.1.1.1')).statusCode).toBe(200);
    expect((await send(direct, '2.2.2.2')).statusCode).toBe(429); // a spoofed header changes nothing
    const proxied = await appWith({ predictPerMinute: 1, trustProxy: true });
    expect((await send(proxied, '1.1.1.1')).statusCode).toBe(200);
    expect((await send(proxied, '2.2.2.2')).statusCode).toBe(200);
    expect((await send(proxied, '1.1.1.1')).statusCode).toBe(429);
  });

  it('is off for embedders that set none (hwr serve passes the defaults)', async () => {
    const hwr = await buildTestApp(root, { dataDir: join(root, 'data-embedded') });
    apps.push(hwr);
    for (let i = 0; i < 70; i++) {
      const res = await post(hwr, '/api/feedback', { pixels, label: '1', predicted: '1' });
      expect(res.statusCode).toBe(201);
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    }
  });

  it('is off when set to 0', async () => {
    const hwr = await appWith({ predictPerMinute: 0 });
    for (let i = 0; i < 20; i++) expect((await post(hwr, '/api/predict', { pixels })).statusCode).toBe(200);
  });
});

/** Connects to a listening app, sends `head`, and resolves with what the server sent and when it closed. */
function slowClient(url: string, head: string, trickle?: { every: number; text: string }) {
  const { hostname, port } = new URL(url);
  return new Promise<{ received: string; ms: number }>((resolve, reject) => {
    const started = Date.now();
    let received = '';
    let timer: NodeJS.Timeout | undefined;
    const socket: Socket = connect(Number(port), hostname, () => {
      socket.write(head);
      if (trickle)
        timer = setInterval(() => {
          if (!socket.destroyed) socket.write(trickle.text);
        }, trickle.every);
    });
    socket.on('data', (d) => {
      received += d.toString();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ received, ms: Date.now() - started });
    });
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`server kept the connection open for 10 s; received: ${received}`));
    }, 10_000);
  });
}

describe('timeouts', () => {
  it('closes a connection idle in the middle of a request (connection timeout)', async () => {
    const hwr = await appWith({ connectionTimeoutMs: 300, requestTimeoutMs: 0 });
    const url = await hwr.app.listen({ host: '127.0.0.1', port: 0 });
    const { ms } = await slowClient(url, 'POST /api/predict HTTP/1.1\r\nHost: x\r\n');
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(3000);
  });

  it('answers 408 to a request trickled slower than the request timeout (slow loris)', async () => {
    const hwr = await appWith({ requestTimeoutMs: 800, connectionTimeoutMs: 5000 });
    const url = await hwr.app.listen({ host: '127.0.0.1', port: 0 });
    const head =
      'POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n';
    const { received, ms } = await slowClient(url, head, { every: 100, text: ' ' });
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    expect(JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4))).toMatchObject({ statusCode: 408 });
    expect(ms).toBeGreaterThanOrEqual(700);
    expect(ms).toBeLessThan(3000);
  });
});
