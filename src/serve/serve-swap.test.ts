import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIXELS } from '../model/infer.js';
import { ModelStore } from '../store/store.js';
import { type RunningServer, startServer } from './app.js';
import { saveTestModel } from './testing.js';

// The server serves `current` of each store and follows pointer switches; requests sent over real
// loopback HTTP while the pointer moves must all succeed.

let root: string;
let server: RunningServer;
let store: ModelStore;
const body = JSON.stringify({ pixels: Array.from({ length: PIXELS }, (_, i) => (i * 37) % 256) });

async function servedVersion(): Promise<string | undefined> {
  const res = await fetch(`${server.url}/api/models`);
  const { models } = (await res.json()) as { models: { name: string; version: string }[] };
  return models.find((m) => m.name === 'digits')?.version;
}

async function until(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting for the served version to change');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `clients` concurrent request loops until stop() (bounded load: each client waits for its answer). */
function load(clients: number) {
  const statuses = new Map<number, number>();
  const versions = new Set<string>();
  let failures = 0;
  let running = true;
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      try {
        const res = await fetch(`${server.url}/api/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const json = (await res.json()) as { model?: { version: string } };
        if (res.status === 200 && json.model) versions.add(json.model.version);
      } catch {
        failures++;
      }
    }
  });
  return {
    statuses,
    versions,
    total: () => [...statuses.values()].reduce((a, b) => a + b, 0),
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { statuses, versions, failures };
    },
  };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-swap-'));
  const models = join(root, 'models');
  await saveTestModel(join(models, 'digits'), { version: 'shipped' }); // plain, as hwr train writes it
  await saveTestModel(join(root, 'cand'), { version: 'cand' });
  store = new ModelStore(models);
  server = await startServer({
    modelsDir: models,
    dataDir: join(root, 'data'),
    webDir: false,
    waitForModels: true,
    watchDebounceMs: 50,
    // This is a load test from one IP: the per-client rate limit would answer 429.
    limits: { predictPerMinute: 0 },
    port: 0,
  });
}, 60_000);

afterAll(async () => {
  await server?.app.close();
  await rm(root, { recursive: true, force: true });
});

describe('serving the store under load', () => {
  it('adopts, promotes and rolls back while 6 clients predict: zero failed requests', async () => {
    expect(await servedVersion()).toBe('shipped');
    const traffic = load(6);
    const settle = async () => {
      const before = traffic.total();
      await until(async () => traffic.total() > before + 10);
    };
    await settle();
    // Adoption: the plain dir becomes a store (v0001 = the shipped files), still served.
    await store.add('digits', join(root, 'cand'));
    await until(async () => (await servedVersion()) === 'v0001');
    await settle();
    await store.promote('digits', 'v0002');
    await until(async () => (await servedVersion()) === 'v0002');
    await settle();
    await store.rollback('digits');
    await until(async () => (await servedVersion()) === 'v0001');
    await settle();
    await store.promote('digits', 'v0002');
    await until(async () => (await servedVersion()) === 'v0002');
    await settle();
    const { statuses, versions, failures } = await traffic.stop();
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    console.log(`swap under load: ${total} requests, statuses ${JSON.stringify([...statuses])}`);
    expect(failures).toBe(0);
    expect([...statuses.keys()]).toEqual([200]);
    expect(total).toBeGreaterThan(50);
    // Every answer names the version that produced it.
    expect([...versions].sort()).toEqual(['shipped', 'v0001', 'v0002']);
  }, 120_000);
});
