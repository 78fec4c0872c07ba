import { lstat, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, METADATA_FILE, ModelError, readMetadata } from '../model/io.js';
import { saveTestModel } from '../serve/testing.js';
import { CURRENT_LINK, HISTORY_FILE, ModelStore, servedDir } from './store.js';

let root: string;
let store: ModelStore;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-store-'));
  store = new ModelStore(join(root, 'models'));
  // As `hwr train` ships it: a plain model directory.
  await saveTestModel(join(root, 'models', 'digits'), { version: '20260101T000000Z' });
  await saveTestModel(join(root, 'cand-a'), { version: 'trained-a' });
  await saveTestModel(join(root, 'cand-b'), { version: 'trained-b' });
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('model store', () => {
  it('lists a plain model directory as is and serves it directly', async () => {
    const [entry] = await store.list();
    expect(entry).toMatchObject({ name: 'digits', kind: 'plain', current: '20260101T000000Z' });
    expect(servedDir(entry.dir)).toBe(entry.dir);
  });

  it('adopts a plain dir on the first add: the original becomes v0001 and stays current', async () => {
    const plainWeights = await readFile(join(root, 'models', 'digits', 'weights.bin'));
    const added = await store.add('digits', join(root, 'cand-a'));
    expect(added.version).toBe('v0002');
    const entry = await store.inspect('digits');
    expect(entry.kind).toBe('store');
    expect(entry.current).toBe('v0001');
    expect(entry.versions.map((v) => v.version)).toEqual(['v0001', 'v0002']);
    // v0001 keeps the original files (same weights) with the store's version stamped in.
    expect(await readFile(join(entry.dir, 'v0001', 'weights.bin'))).toEqual(plainWeights);
    const v1 = await readMetadata(join(entry.dir, 'v0001'));
    expect(v1.version).toBe('v0001');
    expect(v1.extra?.trainedVersion).toBe('20260101T000000Z');
    const v2 = await readMetadata(join(entry.dir, 'v0002'));
    expect(v2).toMatchObject({ version: 'v0002', parentVersion: 'v0001' });
    // The store copy still loads (weights hash checked against the rewritten metadata).
    const loaded = await loadModel(join(entry.dir, 'v0002'));
    loaded.model.dispose();
    expect(servedDir(entry.dir)).toBe(join(entry.dir, CURRENT_LINK));
  });

  it('promotes by switching a relative symlink, and rolls back to the previous current', async () => {
    const dir = join(root, 'models', 'digits');
    await store.promote('digits', 'v0002');
    expect((await lstat(join(dir, CURRENT_LINK))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(dir, CURRENT_LINK))).toBe('v0002');
    expect((await readMetadata(join(dir, CURRENT_LINK))).version).toBe('v0002');

    const { version } = await store.add('digits', join(root, 'cand-b'));
    expect(version).toBe('v0003');
    expect((await readMetadata(join(dir, 'v0003'))).parentVersion).toBe('v0002');
    await store.promote('digits', 'v0003');
    // Promoting the current version again changes nothing.
    await store.promote('digits', 'v0003');
    expect((await store.inspect('digits')).history.stack).toEqual(['v0001', 'v0002', 'v0003']);

    expect((await store.rollback('digits')).current).toBe('v0002');
    expect((await store.rollback('digits')).current).toBe('v0001');
    await expect(store.rollback('digits')).rejects.toThrow(/no earlier version/);
    expect(await readlink(join(dir, CURRENT_LINK))).toBe('v0001');

    const history = JSON.parse(await readFile(join(dir, HISTORY_FILE), 'utf8'));
    expect(
      history.events.map((e: { action: string; version: string }) => `${e.action}:${e.version}`),
    ).toEqual([
      'adopt:v0001',
      'add:v0002',
      'promote:v0002',
      'add:v0003',
      'promote:v0003',
      'rollback:v0002',
      'rollback:v0001',
    ]);
    // No temp links or lock files left behind.
    const entry = await store.inspect('digits');
    expect(entry.versions).toHaveLength(3);
  });

  it('refuses unknown versions, bad names and broken version dirs with clear errors', async () => {
    await expect(store.promote('digits', 'v0042')).rejects.toThrow(
      /has no version v0042.*v0001, v0002, v0003/,
    );
    await expect(store.promote('digits', 'latest')).rejects.toThrow(ModelError);
    await expect(store.promote('../etc', 'v0001')).rejects.toThrow(/invalid model name/);
    await expect(store.inspect('nope')).rejects.toThrow(/no model "nope"/);
    await expect(store.add('digits', join(root, 'does-not-exist'))).rejects.toThrow(/no model at/);
    // A version whose metadata is broken is never made current.
    const dir = join(root, 'models', 'digits');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'v0003', METADATA_FILE), '{"broken": true}');
    await expect(store.promote('digits', 'v0003')).rejects.toThrow(/invalid/);
    expect(await readlink(join(dir, CURRENT_LINK))).toBe('v0001');
    const listed = (await store.inspect('digits')).versions.find((v) => v.version === 'v0003');
    expect(listed?.error).toMatch(/invalid/);
  });

  it('creates a store for a new name with its first version current', async () => {
    const { version } = await store.add('letters', join(root, 'cand-a'));
    expect(version).toBe('v0001');
    const entry = await store.inspect('letters');
    expect(entry).toMatchObject({ kind: 'store', current: 'v0001' });
    expect((await store.list()).map((e) => e.name)).toEqual(['digits', 'letters']);
  });
});
