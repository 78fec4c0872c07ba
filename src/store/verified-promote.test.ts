import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, readlink, rename, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIXELS } from '../model/infer.js';
import { buildTestApp, saveTestModel } from '../serve/testing.js';
import { CURRENT_LINK, HISTORY_FILE, ModelStore } from './store.js';

// Faults of issue 22 item 1: a truncated or wrong-shape version copied into a store by hand must
// never become current (CLI, admin API, rollback), and a server restarted on a bad `current` serves
// the newest good version.

const run = promisify(execFile);
const hwr = (...args: string[]) =>
  run('node', ['bin/hwr.js', ...args], { env: { ...process.env, HWR_THREADS: '1' } }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
  );
const TOKEN = 'right-token-with-enough-entropy-42';

let root: string;
let models: string;
let dir: string;
let store: ModelStore;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-verify-'));
  models = join(root, 'models');
  dir = join(models, 'digits');
  store = new ModelStore(models, () => {});
  await saveTestModel(dir, { version: 'shipped' });
  await saveTestModel(join(root, 'good'), { version: 'good' });
  await store.add('digits', join(root, 'good')); // v0001 (adopted) + v0002
  await store.promote('digits', 'v0002');
  // Copied in by hand, as an operator would: v0003 with half its weights, v0004 with a wrong input shape.
  await cp(join(dir, 'v0002'), join(dir, 'v0003'), { recursive: true });
  const weights = join(dir, 'v0003', 'weights.bin');
  await truncate(weights, Math.floor((await readFile(weights)).byteLength / 2));
  await cp(join(dir, 'v0002'), join(dir, 'v0004'), { recursive: true });
  const modelJson = join(dir, 'v0004', 'model.json');
  const text = await readFile(modelJson, 'utf8');
  expect(text).toContain('[null,28,28,1]');
  // Same weights (the hash still matches), but the network reads 14x56 images.
  await writeFile(modelJson, text.replace('[null,28,28,1]', '[null,14,56,1]'));
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('verified promote, add and rollback', () => {
  it('refuses a truncated and a wrong-shape version from the CLI, marks them bad, keeps current', async () => {
    const truncated = await hwr('models', '--models', models, 'promote', 'digits', 'v0003');
    expect(truncated.code).toBe(1);
    expect(truncated.out).toMatch(
      /v0003 failed verification and is marked bad: .*weights are \d+ bytes, metadata says \d+/,
    );
    const shape = await hwr('models', '--models', models, 'promote', 'digits', 'v0004');
    expect(shape.code).toBe(1);
    expect(shape.out).toMatch(/v0004 failed verification .*input is \[null, 14, 56, 1\]/);
    expect(await readlink(join(dir, CURRENT_LINK))).toBe('v0002');
    const history = JSON.parse(await readFile(join(dir, HISTORY_FILE), 'utf8'));
    expect(Object.keys(history.bad).sort()).toEqual(['v0003', 'v0004']);
    // Marked bad: refused at once the next time, with the reason.
    await expect(store.promote('digits', 'v0003')).rejects.toThrow(/marked bad since .*weights are/);
    const listed = await hwr('models', '--models', models, 'list');
    expect(listed.code).toBe(0);
    expect(listed.out).toMatch(/\* v0002/);
    expect(listed.out).toMatch(/ {3}v0003 .*BAD: .*weights are/);
  }, 60_000);

  it('refuses them through the admin API with a 409 naming the fault, no path leaked', async () => {
    const app = await buildTestApp(root, { admin: { token: TOKEN } });
    try {
      for (const version of ['v0003', 'v0004']) {
        const res = await app.app.inject({
          method: 'POST',
          url: '/api/admin/models/digits/promote',
          headers: { authorization: `Bearer ${TOKEN}` },
          payload: { version },
        });
        expect(res.statusCode).toBe(409);
        expect(res.json().error).toMatch(new RegExp(`${version} is marked bad`));
        expect(res.json().error).not.toContain(root);
      }
      expect(await readlink(join(dir, CURRENT_LINK))).toBe('v0002');
    } finally {
      await app.app.close();
    }
  }, 60_000);

  it('rolls back past a version that broke since it was current, marking it bad', async () => {
    // v0001 was current before v0002; now its weights are damaged.
    const w = join(dir, 'v0001', 'weights.bin');
    const saved = await readFile(w);
    await truncate(w, 100);
    await expect(store.rollback('digits')).rejects.toThrow(
      /no earlier version to roll back to; skipped bad v0001/,
    );
    expect(await readlink(join(dir, CURRENT_LINK))).toBe('v0002');
    const entry = await store.inspect('digits');
    expect(entry.versions.find((v) => v.version === 'v0001')?.bad?.reason).toMatch(/weights are 100 bytes/);
    await writeFile(w, saved); // the bad mark stays: a version is immutable once published
    await expect(store.promote('digits', 'v0001')).rejects.toThrow(/marked bad/);
  }, 60_000);

  it('add refuses a broken model and adds nothing', async () => {
    await cp(join(root, 'good'), join(root, 'broken'), { recursive: true });
    await truncate(join(root, 'broken', 'weights.bin'), 64);
    await expect(store.add('digits', join(root, 'broken'))).rejects.toThrow(
      /failed verification, nothing added/,
    );
    expect((await store.inspect('digits')).versions.map((v) => v.version)).toEqual([
      'v0001',
      'v0002',
      'v0003',
      'v0004',
    ]);
  }, 60_000);

  it('a restart on a bad current (switched by hand) serves the newest good version, loudly', async () => {
    await symlink('v0003', join(dir, '.cur-tmp'));
    await rename(join(dir, '.cur-tmp'), join(dir, CURRENT_LINK));
    const lines: string[] = [];
    const stream = { write: (line: string) => lines.push(line) };
    const app = await buildTestApp(root, { logger: { level: 'info', stream } });
    try {
      const res = await app.app.inject({
        method: 'POST',
        url: '/api/predict',
        payload: { pixels: Array.from({ length: PIXELS }, (_, i) => i % 256) },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().model.version).toBe('v0002');
      expect((await app.app.inject({ url: '/readyz' })).statusCode).toBe(200);
      expect(lines.join('')).toMatch(/CURRENT VERSION v0003 OF .* IS BROKEN: serving v0002/);
    } finally {
      await app.app.close();
    }
    // `hwr models list` marks what a server serves, and says why current is not.
    const served = await store.served(await store.inspect('digits'));
    expect(served.version).toBe('v0002');
    expect(served.currentError).toMatch(/marked bad|weights are/);
  }, 60_000);

  it('adopting a plain folder that holds a version folder keeps it a version, not nested', async () => {
    const plain = join(models, 'letters');
    await saveTestModel(plain, { name: 'letters', version: 'root' });
    await saveTestModel(join(root, 'lv'), { name: 'letters', version: 'copied' });
    await cp(join(root, 'lv'), join(plain, 'v0001'), { recursive: true });
    const entry = await store.promote('letters', 'v0001');
    expect(entry.current).toBe('v0001');
    expect(entry.versions.map((v) => [v.version, v.metadata?.version])).toEqual([
      ['v0001', 'copied'],
      ['v0002', 'v0002'],
    ]);
    expect(entry.history.events.map((e) => `${e.action}:${e.version}`)).toEqual([
      'adopt:v0002',
      'promote:v0001',
    ]);
  }, 60_000);
  // Damaged part weights of a real fused model (image CNN + stroke net): src/serve/fused-model.test.ts.
});
