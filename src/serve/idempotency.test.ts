import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedbackStore } from '../store/feedback-store.js';
import type { HwrApp } from './app.js';
import { buildTestApp, saveTestModel } from './testing.js';

let root: string;
let hwr: HwrApp;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-idempotency-'));
  await saveTestModel(join(root, 'models', 'digits'));
  hwr = await buildTestApp(root);
}, 120_000);

afterAll(async () => {
  await hwr?.app.close();
  await rm(root, { recursive: true, force: true });
});

const strokes = [
  [
    [10, 10],
    [12, 60],
  ],
];

function send(body: unknown, key?: string) {
  return hwr.app.inject({
    method: 'POST',
    url: '/api/feedback',
    payload: body as object,
    headers: key === undefined ? {} : { 'idempotency-key': key },
  });
}

const total = async () => (await hwr.app.inject('/api/feedback/stats')).json().total as number;

describe('POST /api/feedback with an Idempotency-Key', () => {
  it('stores a correction sent twice once and answers the retry with the same row', async () => {
    const before = await total();
    const key = '"6f1c2b9e-93a4-4d0e-8b1f-2a7c5d3e9f10"'; // the draft's sf-string form
    const first = await send({ strokes, label: '1', predicted: '7' }, key);
    expect(first.statusCode).toBe(201);
    // The same request again, its JSON keys in another order and the key bare: the same request.
    const again = await send({ predicted: '7', label: '1', strokes }, key.slice(1, -1));
    expect(again.statusCode).toBe(200);
    expect(again.json().id).toBe(first.json().id);
    expect(again.json().undoUntil).toBe(first.json().undoUntil);
    expect(again.json().undoToken).not.toBe(first.json().undoToken);
    expect(await total()).toBe(before + 1);

    // The first token's answer was "lost": the retry's token is the one that undoes the row.
    const undo = (token: string) =>
      hwr.app.inject({
        method: 'DELETE',
        url: `/api/feedback/${first.json().id}`,
        headers: { 'x-undo-token': token },
      });
    expect((await undo(first.json().undoToken)).statusCode).toBe(403);
    expect((await undo(again.json().undoToken)).statusCode).toBe(204);
    expect(await total()).toBe(before);
  });

  it('refuses the same key with another body (422) and stores nothing more', async () => {
    const key = '0b7d3f52-3c1e-4a8b-9d6f-7e5c4b3a2918';
    expect((await send({ strokes, label: '1' }, key)).statusCode).toBe(201);
    const before = await total();
    const other = await send({ strokes, label: '4' }, key);
    expect(other.statusCode).toBe(422);
    expect(other.json()).toMatchObject({ code: 'key_reused', statusCode: 422 });
    expect(other.json().error).toMatch(
      /Idempotency-Key "0b7d3f52-.*" was already used for a different correction/,
    );
    expect(await total()).toBe(before);
  });

  it('stores every request without a key, and refuses malformed keys with a 400', async () => {
    const before = await total();
    expect((await send({ strokes, label: '2' })).statusCode).toBe(201);
    expect((await send({ strokes, label: '2' })).statusCode).toBe(201);
    expect(await total()).toBe(before + 2);
    for (const bad of [
      'short',
      'x'.repeat(129),
      'has space in the key!!',
      '"unterminated-key-1234',
      'a,b,c,d,e,f,g,h,i,j',
    ]) {
      const res = await send({ strokes, label: '2' }, bad);
      expect(res.statusCode, bad).toBe(400);
      expect(res.json().error).toMatch(/Idempotency-Key header must be 16 to 128/);
    }
    expect(await total()).toBe(before + 2);
  });

  it('keeps the key with the row in the SQLite file', async () => {
    const key = 'ulid-01JEXAMPLE000000000000';
    const created = (await send({ strokes, label: '3' }, key)).json();
    const store = new FeedbackStore(join(root, 'data'));
    try {
      const row = store.connection
        .prepare(
          'SELECT idempotency_key AS key, length(request_hash) AS hashLength FROM feedback WHERE id = ?',
        )
        .get(created.id);
      expect(row).toEqual({ key, hashLength: 64 });
    } finally {
      store.close();
    }
  });
});
