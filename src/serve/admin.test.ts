import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelStore } from '../store/store.js';
import type { HwrApp } from './app.js';
import { buildTestApp, saveTestModel } from './testing.js';

const TOKEN = 'right-token-with-enough-entropy-42';
let root: string;
let open: HwrApp;
let locked: HwrApp;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-admin-'));
  await saveTestModel(join(root, 'models', 'digits'), { version: 'shipped' });
  await saveTestModel(join(root, 'cand'), { version: 'cand' });
  await new ModelStore(join(root, 'models')).add('digits', join(root, 'cand')); // v0001 + v0002
  open = await buildTestApp(root);
  locked = await buildTestApp(root, { admin: { token: TOKEN } });
}, 60_000);

afterAll(async () => {
  await open?.app.close();
  await locked?.app.close();
  await rm(root, { recursive: true, force: true });
});

const promote = (hwr: HwrApp, authorization?: string, version = 'v0002') =>
  hwr.app.inject({
    method: 'POST',
    url: '/api/admin/models/digits/promote',
    headers: authorization === undefined ? {} : { authorization },
    payload: { version },
  });

describe('admin API', () => {
  it('does not exist without an admin token (HWR_ADMIN_TOKEN)', async () => {
    expect((await promote(open, `Bearer ${TOKEN}`)).statusCode).toBe(404);
    expect(
      (await open.app.inject({ method: 'POST', url: '/api/admin/retrain', payload: {} })).statusCode,
    ).toBe(404);
  });

  it('answers 401 without a token or with a malformed header, 403 with a wrong token', async () => {
    const none = await promote(locked);
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(none.json().error).toMatch(/missing/);
    for (const bad of [
      TOKEN,
      `Basic ${TOKEN}`,
      'Bearer',
      'Bearer ',
      `Bearer ${TOKEN} extra`,
      `bearer\t${TOKEN}`,
    ]) {
      const res = await promote(locked, bad);
      expect(res.statusCode, bad).toBe(401);
      expect(res.json().error).toMatch(/malformed/);
    }
    for (const wrong of ['x', `${TOKEN}x`, TOKEN.slice(0, -1), TOKEN.toUpperCase(), 'a'.repeat(500)]) {
      const res = await promote(locked, `Bearer ${wrong}`);
      expect(res.statusCode, wrong).toBe(403);
    }
    // Nothing happened on any of them.
    expect((await new ModelStore(join(root, 'models')).inspect('digits')).current).toBe('v0001');
    // Every admin route is behind the check.
    for (const [method, url] of [
      ['GET', '/api/admin/jobs'],
      ['GET', '/api/admin/jobs/abc'],
      ['POST', '/api/admin/retrain'],
      ['POST', '/api/admin/models/digits/rollback'],
    ] as const) {
      expect((await locked.app.inject({ method, url })).statusCode, url).toBe(401);
      expect(
        (await locked.app.inject({ method, url, headers: { authorization: 'Bearer nope' } })).statusCode,
      ).toBe(403);
    }
  });

  it('promotes and rolls back with the right token, with clear errors otherwise', async () => {
    const auth = `Bearer ${TOKEN}`;
    const ok = await promote(locked, auth);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ name: 'digits', current: 'v0002', versions: ['v0001', 'v0002'] });

    const missing = await promote(locked, auth, 'v0009');
    expect(missing.statusCode).toBe(409);
    expect(missing.json()).toMatchObject({ code: 'conflict', statusCode: 409 });
    expect(missing.json().error).toMatch(/no version v0009/);
    expect(missing.json().error).not.toContain(root); // no server paths in answers
    expect((await promote(locked, auth, '../v1')).statusCode).toBe(400);
    const unknown = await locked.app.inject({
      method: 'POST',
      url: '/api/admin/models/letters/rollback',
      headers: { authorization: auth },
    });
    expect(unknown.json()).toMatchObject({ code: 'not_found', statusCode: 404 });

    const back = await locked.app.inject({
      method: 'POST',
      url: '/api/admin/models/digits/rollback',
      headers: { authorization: auth },
    });
    expect(back.json()).toMatchObject({ current: 'v0001' });
    const again = await locked.app.inject({
      method: 'POST',
      url: '/api/admin/models/digits/rollback',
      headers: { authorization: auth },
    });
    expect(again.statusCode).toBe(409);
    // The version list with each version's facts and the history of switches.
    const versions = await locked.app.inject({
      url: '/api/admin/models/digits',
      headers: { authorization: auth },
    });
    expect(versions.statusCode).toBe(200);
    const body = versions.json();
    expect(body.current).toBe('v0001');
    expect(body.versions.map((v: { version: string }) => v.version)).toEqual(['v0001', 'v0002']);
    expect(body.versions[0]).toMatchObject({ bad: null, createdAt: expect.any(String) });
    expect(body.events.map((e: { action: string; version: string }) => `${e.action} ${e.version}`)).toEqual(
      expect.arrayContaining(['promote v0002', 'rollback v0001']),
    );
    expect((await locked.app.inject({ url: '/api/admin/models/digits' })).statusCode).toBe(401);
    const job = await locked.app.inject({ url: '/api/admin/jobs/nope', headers: { authorization: auth } });
    expect(job.statusCode).toBe(404);
    const bad = await locked.app.inject({
      method: 'POST',
      url: '/api/admin/retrain',
      headers: { authorization: auth },
      payload: { epochs: 0 },
    });
    expect(bad.json()).toMatchObject({ code: 'invalid_input', statusCode: 400 });
  });

  it('throttles token guesses before checking them: 120 wrong tokens meet 429s, on their own budget', async () => {
    // Feedback unlimited, admin 60 per minute: the two settings are independent.
    const limited = await buildTestApp(root, {
      admin: { token: TOKEN },
      limits: { adminPerMinute: 60, feedbackPerMinute: 0 },
    });
    try {
      const guess = (authorization: string, remoteAddress = '203.0.113.7') =>
        limited.app.inject({
          method: 'GET',
          url: '/api/admin/jobs',
          headers: { authorization },
          remoteAddress,
        });
      const statuses: number[] = [];
      for (let i = 0; i < 120; i++) statuses.push((await guess(`Bearer wrong-guess-${i}`)).statusCode);
      expect(statuses.slice(0, 60).every((s) => s === 403)).toBe(true);
      expect(statuses.slice(60).every((s) => s === 429)).toBe(true);
      // The right token from the guessing address waits like the guesses did (nothing learnt from it).
      const right = await guess(`Bearer ${TOKEN}`);
      expect(right.statusCode).toBe(429);
      expect(right.json().error).toMatch(/too many requests: at most 60 per minute/);
      expect(right.headers['retry-after']).toBeDefined();
      // Another client is not affected.
      expect((await guess(`Bearer ${TOKEN}`, '198.51.100.2')).statusCode).toBe(200);
      // Feedback has its own budget (unlimited here) even from the throttled address.
      const feedback = await limited.app.inject({
        method: 'POST',
        url: '/api/feedback',
        remoteAddress: '203.0.113.7',
        payload: { pixels: Array.from({ length: 784 }, () => 0), label: '3' },
      });
      expect(feedback.statusCode).toBe(201);
    } finally {
      await limited.app.close();
    }
  });
});
