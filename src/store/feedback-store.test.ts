import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FEEDBACK_DB_FILE, FeedbackStore } from './feedback-store.js';

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
});
