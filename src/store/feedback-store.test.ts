import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FEEDBACK_DB_FILE, FeedbackStore, UNDO_WINDOW_MS } from './feedback-store.js';

const STORE = fileURLToPath(new URL('./feedback-store.ts', import.meta.url));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hwr-feedback-store-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Opens (and so creates and migrates) the store in a separate process; resolves to its exit code and stderr. */
function openInChild(dataDir: string): Promise<{ code: number | null; stderr: string }> {
  const code = `const { FeedbackStore } = await import(${JSON.stringify(STORE)});
new FeedbackStore(${JSON.stringify(dataDir)}).close();`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (c) => resolve({ code: c, stderr }));
  });
}

describe('FeedbackStore', () => {
  // `hwr serve --workers 2` starts both workers at once on the same data dir: on a fresh one each
  // used to find schema version 0 and create the tables, and the second died ("table feedback
  // already exists").
  it('is created once when several processes open a fresh data dir at the same moment', async () => {
    for (let round = 0; round < 3; round++) {
      const dataDir = join(dir, `data-${round}`);
      const results = await Promise.all(Array.from({ length: 4 }, () => openInChild(dataDir)));
      for (const r of results) expect(r.stderr).toBe('');
      expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0]);
      const store = new FeedbackStore(dataDir);
      expect(store.stats().total).toBe(0);
      store.close();
    }
  }, 60_000);

  it('refuses a file from a newer hwr with a clear error, and leaves it untouched', () => {
    new FeedbackStore(dir).close();
    const path = join(dir, FEEDBACK_DB_FILE);
    const raw = new Database(path);
    raw.pragma('user_version = 99');
    raw.close();
    expect(() => new FeedbackStore(dir)).toThrow(/schema version 99, newer than this hwr .*; upgrade hwr/);
    const after = new Database(path, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(99);
    after.close();
  });

  it('deletes a row with its undo digest within the window only, and upgrades a version-1 file', () => {
    // The upgrade runs every later migration too: undo digests, then the Idempotency-Key columns.
    // A file as the first schema made it, with one row: the upgrade keeps the row, without a digest.
    const v1 = new Database(join(dir, FEEDBACK_DB_FILE));
    v1.exec(
      `CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL,
         model_name TEXT NOT NULL, model_version TEXT NOT NULL, label TEXT NOT NULL, predicted TEXT,
         input_kind TEXT NOT NULL, raw_input TEXT NOT NULL, pixels BLOB NOT NULL);
       CREATE TABLE model_versions (model_name TEXT NOT NULL, model_version TEXT NOT NULL,
         classes TEXT NOT NULL, first_seen TEXT NOT NULL, PRIMARY KEY (model_name, model_version));`,
    );
    v1.prepare(
      `INSERT INTO feedback (created_at, model_name, model_version, label, predicted, input_kind, raw_input, pixels)
       VALUES (?, 'digits', 'v1', '3', '3', 'pixels', '[]', ?)`,
    ).run(new Date().toISOString(), Buffer.alloc(784));
    v1.pragma('user_version = 1');
    v1.close();

    const store = new FeedbackStore(dir);
    try {
      expect(store.stats().total).toBe(1);
      const sample = {
        pixels: new Uint8Array(784),
        inputKind: 'pixels' as const,
        rawInput: [],
        label: '4',
        modelName: 'digits',
        modelVersion: 'v1',
        classes: ['3', '4'],
        undoHash: 'a'.repeat(64),
      };
      const id = store.add(sample);
      const old = store.rows('digits')[0].id;
      expect(store.undo(old, 'a'.repeat(64))).toBe('forbidden'); // stored without a digest
      expect(store.undo(id, 'b'.repeat(64))).toBe('forbidden');
      expect(store.undo(id, 'a'.repeat(64), Date.now() + UNDO_WINDOW_MS + 1000)).toBe('expired');
      expect(store.stats().total).toBe(2);
      expect(store.undo(id, 'a'.repeat(64))).toBe('deleted');
      expect(store.undo(id, 'a'.repeat(64))).toBe('missing');
      expect(store.stats().total).toBe(1);
      const key = { key: 'k'.repeat(16), requestHash: 'c'.repeat(64) };
      const keyed = store.addOnce(sample, key);
      expect(keyed).toMatchObject({ kind: 'created' });
      expect(store.addOnce(sample, key)).toMatchObject({
        kind: 'replayed',
        id: (keyed as { id: number }).id,
      });
      expect(store.stats().total).toBe(2);
    } finally {
      store.close();
    }
  });
});
