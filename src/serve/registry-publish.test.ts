import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA_FILE, MODEL_FILE, WEIGHTS_FILE } from '../model/io.js';
import { ModelRegistry, type RegistryEvent } from './registry.js';
import { saveTestModel } from './testing.js';

// Publishing by a plain, non-atomic copy into the models folder (cp -r, an upload, a sync tool):
// the registry rejects the half-copied model, retries whenever one of its files changes, and serves
// it once the last file is complete. Writes inside subfolders (a fused model's parts) count too.

let root: string;
let registry: ModelRegistry;
const events: RegistryEvent[] = [];
const quiet = { info() {}, warn() {}, error() {} };
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, ms: number): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await pause(20);
  }
  return Date.now() - start;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-publish-'));
  await saveTestModel(join(root, 'models', 'digits'), { version: 'v1' });
  await saveTestModel(join(root, 'source'), { name: 'late', version: 'copied' });
  registry = new ModelRegistry({
    dir: join(root, 'models'),
    log: quiet,
    debounceMs: 200, // as hwr serve
    onEvent: (e) => events.push(e),
  });
  await registry.rescan();
  registry.watch();
}, 60_000);

afterAll(async () => {
  await registry?.close();
  await rm(root, { recursive: true, force: true });
});

describe('a model copied file by file into the models folder', () => {
  it('is rejected while incomplete and served within 2 s of its last file', async () => {
    const src = join(root, 'source');
    const dst = join(root, 'models', 'late');
    await mkdir(dst);
    await writeFile(join(dst, METADATA_FILE), await readFile(join(src, METADATA_FILE)));
    await pause(500);
    await writeFile(join(dst, MODEL_FILE), await readFile(join(src, MODEL_FILE)));
    await pause(500);
    const weights = await readFile(join(src, WEIGHTS_FILE));
    await writeFile(join(dst, WEIGHTS_FILE), weights.subarray(0, weights.byteLength >> 1));
    await pause(500);
    const rejected = events.filter((e) => e.kind === 'rejected').length;
    expect(rejected).toBeGreaterThanOrEqual(2); // no model.json yet, then half the weights
    expect(registry.get('late')).toBeUndefined();
    await writeFile(join(dst, WEIGHTS_FILE), weights); // the last write: same name, full size
    const ms = await until(() => registry.get('late') !== undefined, 2000);
    console.log(`non-atomic copy: served ${ms} ms after its last file (debounce 200 ms)`);
    expect(registry.get('late')?.version).toBe('copied');
  }, 30_000);

  it('notices a write inside a subfolder of a model directory', async () => {
    const before = events.length;
    const part = join(root, 'models', 'late', 'strokes');
    await mkdir(part);
    await pause(400); // the new subfolder is watched after the rescan its creation caused
    await writeFile(join(part, 'weights.bin'), new Uint8Array(64));
    await until(() => events.slice(before).some((e) => e.kind === 'loaded' && e.model.name === 'late'), 2000);
    expect(registry.get('late')?.fingerprint).toContain('strokes/weights.bin');
  }, 30_000);
});
