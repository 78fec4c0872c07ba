import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveTestModel } from '../serve/testing.js';
import { HISTORY_FILE, ModelStore, StoreError } from './store.js';

// Store races and leftovers (issue 22 item 7): a lock left by a killed process, two promotes of a
// plain folder at once, and two retrains promoting against the same base.

let root: string;
let models: string;
const logged: string[] = [];
let store: ModelStore;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-races-'));
  models = join(root, 'models');
  store = new ModelStore(models, (m) => logged.push(m));
  await saveTestModel(join(models, 'digits'), { version: 'shipped' });
  await saveTestModel(join(root, 'cand-a'), { version: 'a' });
  await saveTestModel(join(root, 'cand-b'), { version: 'b' });
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('store lock and races', () => {
  it('two promotes of a plain folder at once: one adoption, both succeed', async () => {
    const results = await Promise.allSettled([
      store.promote('digits', 'v0001'),
      store.promote('digits', 'v0001'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    const entry = await store.inspect('digits');
    expect(entry.current).toBe('v0001');
    expect(entry.history.events.filter((e) => e.action === 'adopt')).toHaveLength(1);
  }, 60_000);

  it('takes over a lock whose owner process is dead, at once and with a log line', async () => {
    const dead = spawnSync(process.execPath, [
      '-e',
      'process.stdout.write(String(process.pid))',
    ]).stdout.toString();
    await writeFile(join(models, '.digits.lock'), `${dead} ${hostname()}\n`);
    const started = Date.now();
    await store.add('digits', join(root, 'cand-a')); // v0002
    expect(Date.now() - started).toBeLessThan(5000); // not the 10 s wait, nor the 10 min staleness
    expect(logged.join('\n')).toMatch(
      new RegExp(`took over the stale lock .*\\.digits\\.lock: its owner, process ${dead}, is not running`),
    );
  }, 60_000);

  it('waits for a lock whose owner is alive', async () => {
    const lock = join(models, '.digits.lock');
    await writeFile(lock, `${process.pid} ${hostname()}\n`);
    const before = logged.length;
    setTimeout(() => void rm(lock, { force: true }), 400);
    const started = Date.now();
    await store.promote('digits', 'v0002');
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    expect(logged.length).toBe(before); // nothing taken over
  }, 60_000);

  it('refuses a promote when current moved since the candidate was measured', async () => {
    // Two retrains fine-tuned v0002 at once; the first promotes, the second was never compared with it.
    const first = await store.add('digits', join(root, 'cand-a'), { parentVersion: 'v0002' });
    const second = await store.add('digits', join(root, 'cand-b'), { parentVersion: 'v0002' });
    await store.promote('digits', first.version, { expectCurrent: 'v0002' });
    const refused = store.promote('digits', second.version, { expectCurrent: 'v0002' });
    await expect(refused).rejects.toThrow(StoreError);
    await expect(refused).rejects.toMatchObject({ reason: 'current-moved', code: 'conflict' });
    await expect(refused).rejects.toThrow(/current is v0003, not v0002 as when the candidate was measured/);
    const history = JSON.parse(await readFile(join(models, 'digits', HISTORY_FILE), 'utf8'));
    expect(history.stack).toEqual(['v0001', 'v0002', 'v0003']);
  }, 60_000);
});
