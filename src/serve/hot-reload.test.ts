import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIXELS } from '../model/infer.js';
import { METADATA_FILE, MODEL_FILE, WEIGHTS_FILE, writeModelDir } from '../model/io.js';
import type { HwrApp } from './app.js';
import { buildTestApp, saveTestModel } from './testing.js';

let root: string;
let hwr: HwrApp;
const body = { pixels: Array.from({ length: PIXELS }, (_, i) => (i * 37) % 256) };

async function modelVersions(): Promise<Record<string, string>> {
  const { models } = (await hwr.app.inject('/api/models')).json();
  return Object.fromEntries(models.map((m: { name: string; version: string }) => [m.name, m.version]));
}

/** Polls until `check` holds (the watcher works in the background), at most `ms`. */
async function until(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting for the models folder change');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function metric(text: string, re: RegExp): number {
  return Number(text.match(re)?.[1] ?? 0);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-reload-'));
  await saveTestModel(join(root, 'models', 'digits'), { version: 'v1' });
  hwr = await buildTestApp(root, {
    watch: true,
    watchDebounceMs: 50,
    // As `hwr serve` runs: forward passes on the inference thread, each version copied there.
    inferenceThread: true,
  });
}, 60_000);

afterAll(async () => {
  await hwr?.app.close();
  await rm(root, { recursive: true, force: true });
});

describe('hot reload of the models folder', () => {
  it('swaps in a replaced model without failing a request', async () => {
    expect(await modelVersions()).toEqual({ digits: 'v1' });
    const statuses: number[] = [];
    const versions = new Set<string>();
    let stop = false;
    // Requests keep coming while the directory is replaced underneath.
    const load = (async () => {
      while (!stop) {
        const res = await hwr.app.inject({ method: 'POST', url: '/api/predict', payload: body });
        statuses.push(res.statusCode);
        if (res.statusCode === 200) versions.add(res.json().model.version);
        await new Promise((r) => setImmediate(r));
      }
    })();
    expect(hwr.registry.list().map((m) => m.predictor.offloaded)).toEqual([true]);
    await saveTestModel(join(root, 'models', 'digits'), { version: 'v2' }); // atomic rename
    await until(async () => (await modelVersions()).digits === 'v2');
    expect(hwr.registry.list().map((m) => m.predictor.offloaded)).toEqual([true]);
    // A few more requests on the new model.
    const seenBefore = statuses.length;
    await until(async () => statuses.length > seenBefore + 5);
    stop = true;
    await load;
    expect(statuses.length).toBeGreaterThan(10);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect([...versions].sort()).toEqual(['v1', 'v2']);
    const metrics = (await hwr.app.inject('/metrics')).body;
    expect(metrics).toMatch(/hwr_model_info\{model="digits",version="v2",arch="test-dense"\} 1/);
    expect(metrics).not.toMatch(/version="v1"/);
  }, 60_000);

  it('rejects a broken replacement and keeps serving the old model', async () => {
    const dir = join(root, 'models', 'digits');
    const rejectedBefore = metric(
      (await hwr.app.inject('/metrics')).body,
      /hwr_model_loads_total\{result="rejected"\} (\d+)/,
    );
    // Valid metadata, but weights that do not match its size and hash.
    const meta = JSON.parse(await readFile(join(dir, METADATA_FILE), 'utf8'));
    await writeModelDir(dir, {
      [MODEL_FILE]: await readFile(join(dir, MODEL_FILE), 'utf8'),
      [WEIGHTS_FILE]: new Uint8Array(16),
      [METADATA_FILE]: JSON.stringify({ ...meta, version: 'v3-broken' }),
    });
    await until(
      async () =>
        metric((await hwr.app.inject('/metrics')).body, /hwr_model_loads_total\{result="rejected"\} (\d+)/) >
        rejectedBefore,
    );
    expect(await modelVersions()).toEqual({ digits: 'v2' });
    const res = await hwr.app.inject({ method: 'POST', url: '/api/predict', payload: body });
    expect(res.statusCode).toBe(200);
    expect(res.json().model.version).toBe('v2');

    // Fixing it (a good model in the same place) is picked up again.
    await saveTestModel(dir, { version: 'v4' });
    await until(async () => (await modelVersions()).digits === 'v4');
  }, 60_000);

  it('loads a model added to the folder and unloads one removed from it', async () => {
    await saveTestModel(join(root, 'models', 'letters-new'), {
      name: 'letters',
      version: 'l1',
      classes: 'abcdefghijklmnopqrstuvwxyz'.split(''),
    });
    await until(async () => (await modelVersions()).letters === 'l1');
    const res = await hwr.app.inject({
      method: 'POST',
      url: '/api/predict',
      payload: { ...body, model: 'letters' },
    });
    expect(res.statusCode).toBe(200);
    await rm(join(root, 'models', 'letters-new'), { recursive: true });
    await until(async () => !('letters' in (await modelVersions())));
    const gone = await hwr.app.inject({
      method: 'POST',
      url: '/api/predict',
      payload: { ...body, model: 'letters' },
    });
    expect(gone.statusCode).toBe(404);
    expect(await modelVersions()).toEqual({ digits: 'v4' });
  }, 60_000);
});
