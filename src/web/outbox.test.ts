import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ApiError, type FeedbackCreated } from './api.js';
import {
  type CorrectionBody,
  flushOutbox,
  MemoryOutboxStore,
  Outbox,
  refusedForGood,
  retryDelayMs,
} from './outbox.js';

// Real drawings from the stroke fixture: the bodies the page queues.
const samples = (
  JSON.parse(readFileSync('test/fixtures/strokes/digits.json', 'utf8')) as {
    samples: { label: string; strokes: [number, number][][] }[];
  }
).samples.slice(0, 5);
const bodies: CorrectionBody[] = samples.map((s) => ({
  strokes: s.strokes,
  model: 'digits',
  label: s.label,
}));

/** A fake server: answers 201 with increasing ids, or fails the calls listed in `fail`. */
function server(fail: Record<number, unknown> = {}) {
  const received: CorrectionBody[] = [];
  let calls = 0;
  const send = async (body: CorrectionBody): Promise<FeedbackCreated> => {
    const n = calls++;
    if (n in fail) throw fail[n];
    received.push(body);
    return { id: received.length, undoToken: 't', undoUntil: new Date().toISOString() };
  };
  return { send, received, calls: () => calls };
}

async function queued(n: number): Promise<MemoryOutboxStore> {
  const store = new MemoryOutboxStore();
  for (const [i, b] of bodies.slice(0, n).entries()) await store.add(b, new Date().toISOString(), `key-${i}`);
  return store;
}

describe('flushOutbox', () => {
  it('sends every queued correction once, oldest first, and empties the queue', async () => {
    const store = await queued(5);
    const s = server();
    expect(await flushOutbox(store, s.send)).toEqual({ sent: 5, dropped: [], left: 0 });
    expect(s.received.map((b) => b.label)).toEqual(samples.map((x) => x.label));
    expect(await store.all()).toEqual([]);
    expect(await flushOutbox(store, s.send)).toEqual({ sent: 0, dropped: [], left: 0 });
    expect(s.calls()).toBe(5);
  });

  it('stops at a network failure and keeps it and the later ones, in order, for the next flush', async () => {
    const store = await queued(4);
    const s = server({ 2: new ApiError('network', 0) });
    expect(await flushOutbox(store, s.send)).toEqual({ sent: 2, dropped: [], left: 2 });
    expect((await store.all()).map((c) => c.body.label)).toEqual(samples.slice(2, 4).map((x) => x.label));
    expect(await flushOutbox(store, s.send)).toMatchObject({ sent: 2, left: 0 });
    expect(s.received.map((b) => b.label)).toEqual(samples.slice(0, 4).map((x) => x.label));
  });

  it('keeps a correction the server answered 503, 429 or 408 to; drops one it refused with 400', async () => {
    for (const status of [503, 429, 408, 500]) {
      const store = await queued(2);
      const s = server({ 0: new ApiError('busy', status) });
      expect(await flushOutbox(store, s.send), String(status)).toEqual({ sent: 0, dropped: [], left: 2 });
    }
    const store = await queued(3);
    const s = server({ 1: new ApiError('label "x" is not a class', 400) });
    const result = await flushOutbox(store, s.send);
    expect(result.sent).toBe(2);
    expect(result.dropped.map((d) => [d.correction.body.label, d.error])).toEqual([
      [samples[1].label, 'label "x" is not a class'],
    ]);
    expect(await store.all()).toEqual([]);
  });

  it('sends each correction under its own key on every attempt: a lost answer is not a second row', async () => {
    const store = await queued(3);
    // A server that keeps rows by Idempotency-Key, as POST /api/feedback does, and loses the answer
    // of its second request after storing it.
    const rows = new Map<string, CorrectionBody>();
    const keys: (string | undefined)[] = [];
    let calls = 0;
    const send = async (body: CorrectionBody, key?: string): Promise<FeedbackCreated> => {
      keys.push(key);
      if (key === undefined) throw new Error('sent without a key');
      if (!rows.has(key)) rows.set(key, body);
      if (calls++ === 1) throw new ApiError('network', 0);
      return { id: [...rows.keys()].indexOf(key) + 1, undoToken: 't', undoUntil: '' };
    };
    expect(await flushOutbox(store, send)).toEqual({ sent: 1, dropped: [], left: 2 });
    expect(await flushOutbox(store, send)).toEqual({ sent: 2, dropped: [], left: 0 });
    expect(keys).toEqual(['key-0', 'key-1', 'key-1', 'key-2']);
    expect([...rows.values()].map((b) => b.label)).toEqual(samples.slice(0, 3).map((x) => x.label));
  });

  it('does not remove a correction the server answered without an id', async () => {
    const store = await queued(1);
    const result = await flushOutbox(store, async () => ({}) as FeedbackCreated);
    expect(result).toEqual({ sent: 0, dropped: [], left: 1 });
  });
});

describe('Outbox', () => {
  it('runs one flush at a time: a second flush joins the first, nothing is sent twice', async () => {
    const store = await queued(3);
    const s = server();
    const timers: number[] = [];
    const outbox = new Outbox(store, { send: s.send, setTimer: (_fn, ms) => timers.push(ms) });
    const [a, b] = await Promise.all([outbox.flush(), outbox.flush()]);
    expect(a).toBe(b);
    expect(s.received).toHaveLength(3);
    expect(await outbox.size()).toBe(0);
  });

  it('retries on a growing backoff while the server is away, and resets it once through', async () => {
    const store = await queued(1);
    const s = server({ 0: new ApiError('network', 0), 1: new ApiError('network', 0) });
    const timers: number[] = [];
    const outbox = new Outbox(store, {
      send: s.send,
      setTimer: (_fn, ms) => timers.push(ms),
      clearTimer: () => {},
    });
    await outbox.flush();
    await outbox.flush();
    await outbox.flush();
    expect(timers).toEqual([10_000, 20_000]);
    expect(s.received).toHaveLength(1);
    await outbox.add(bodies[1], 'key-next');
    await new Promise((r) => setTimeout(r, 0));
    expect(timers.at(-1)).toBe(5_000);
  });

  it('an undo during a flush waits for it: a correction being sent is reported sent, not taken back', async () => {
    const store = await queued(1);
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const s = server();
    const outbox = new Outbox(store, {
      send: async (body) => {
        await gate;
        return s.send(body);
      },
      setTimer: () => 0,
    });
    const [item] = await store.all();
    const flushing = outbox.flush();
    const undo = outbox.remove(item.id);
    release();
    await flushing;
    expect(await undo).toBe(false);
    expect(s.received).toHaveLength(1);
  });

  it('takes back a correction not sent yet (undo), and says so when it was sent already', async () => {
    const store = await queued(2);
    const outbox = new Outbox(store, { send: server().send, setTimer: () => 0 });
    const [first] = await store.all();
    expect(await outbox.remove(first.id)).toBe(true);
    expect(await outbox.remove(first.id)).toBe(false);
    expect(await outbox.size()).toBe(1);
  });
});

describe('retry policy', () => {
  it('doubles from 5 s to a 5 minute ceiling', () => {
    expect([0, 1, 2, 3, 6, 20].map(retryDelayMs)).toEqual([5_000, 10_000, 20_000, 40_000, 300_000, 300_000]);
  });

  it('gives up only on answers that cannot change', () => {
    expect(refusedForGood(new ApiError('bad', 400))).toBe(true);
    expect(refusedForGood(new ApiError('gone', 404))).toBe(true);
    for (const status of [0, 408, 429, 500, 503])
      expect(refusedForGood(new ApiError('x', status))).toBe(false);
    expect(refusedForGood(new TypeError('x'))).toBe(false);
  });
});
