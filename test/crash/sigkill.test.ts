// Crash safety of the feedback store: `hwr serve` is SIGKILLed while feedback is being posted
// concurrently, then restarted; every feedback answered 201 must be in the database, intact, and the
// database must pass PRAGMA integrity_check. Five kill/restart cycles.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIXELS } from '../../src/model/infer.js';
import { saveTestModel } from '../../src/serve/testing.js';
import { FEEDBACK_DB_FILE } from '../../src/store/feedback-store.js';
import { type ServeChild, startServe } from './child.js';

const CYCLES = 5;
const CLIENTS = 6;

let root: string;
let child: ServeChild | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-crash-'));
  await saveTestModel(join(root, 'models', 'digits'));
}, 60_000);

afterAll(async () => {
  child?.proc.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

/** A drawing whose first three pixels carry `tag`, so a stored row can be matched to its request. */
function taggedPixels(tag: number): number[] {
  const pixels: number[] = Array.from({ length: PIXELS }, (_, i) => (i % 28 > 10 && i % 28 < 16 ? 255 : 0));
  pixels[0] = tag & 255;
  pixels[1] = (tag >> 8) & 255;
  pixels[2] = (tag >> 16) & 255;
  return pixels;
}

interface Checked {
  rows: number;
  found: number;
  missing: number[];
  integrity: string;
}

/** Reads the database beside the running server (WAL: readers do not block it). */
function check(acked: Map<number, number>): Checked {
  const db = new Database(join(root, 'data', FEEDBACK_DB_FILE), { readonly: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    const rows = db.prepare('SELECT id, pixels FROM feedback').all() as Array<{ id: number; pixels: Buffer }>;
    const byId = new Map(rows.map((r) => [r.id, r.pixels]));
    const missing: number[] = [];
    for (const [id, tag] of acked) {
      const p = byId.get(id);
      if (!p || p[0] + (p[1] << 8) + (p[2] << 16) !== tag) missing.push(id);
    }
    return { rows: rows.length, found: acked.size - missing.length, missing, integrity };
  } finally {
    db.close();
  }
}

describe('SIGKILL during concurrent feedback', () => {
  it(`keeps every acknowledged feedback over ${CYCLES} kill/restart cycles`, async () => {
    const acked = new Map<number, number>(); // row id -> tag
    let nextTag = 1;
    let failedInFlight = 0;
    const args = ['--models', join(root, 'models'), '--data-dir', join(root, 'data'), '--rate-feedback', '0'];
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      child = await startServe(args);
      if (cycle > 1) {
        const c = check(acked);
        console.log(
          `restart ${cycle - 1}: acknowledged ${acked.size}, found ${c.found}, rows ${c.rows}, integrity ${c.integrity}`,
        );
        expect(c.integrity).toBe('ok');
        expect(c.missing).toEqual([]);
      }
      const server = child;
      let killed = false;
      const ackedBefore = acked.size;
      const client = async () => {
        while (!killed) {
          const tag = nextTag++;
          try {
            const res = await fetch(`${server.url}/api/feedback`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ pixels: taggedPixels(tag), label: '3', predicted: '5' }),
            });
            if (res.status === 201) acked.set(((await res.json()) as { id: number }).id, tag);
            else throw new Error(`feedback answered ${res.status}: ${await res.text()}`);
          } catch (err) {
            if (!killed) throw err;
            failedInFlight++;
            return;
          }
        }
      };
      // Errors are kept, not left unhandled while the loop below waits; the await further on rethrows.
      const clients = Array.from({ length: CLIENTS }, () =>
        client().then(
          () => undefined,
          (err: Error) => err,
        ),
      );
      // Kill at a varying point once the stream is well under way.
      const target = ackedBefore + 40 + cycle * 15;
      while (acked.size < target && server.proc.exitCode === null) await new Promise((r) => setTimeout(r, 5));
      killed = true;
      server.proc.kill('SIGKILL');
      const exit = await server.exited;
      for (const err of await Promise.all(clients)) if (err) throw err;
      expect(exit.signal).toBe('SIGKILL');
      console.log(
        `cycle ${cycle}: SIGKILL after ${acked.size - ackedBefore} acknowledged (total ${acked.size})`,
      );
    }
    child = await startServe(args);
    const c = check(acked);
    console.log(
      `after ${CYCLES} kills: acknowledged ${acked.size}, found ${c.found}, rows ${c.rows}, ` +
        `requests cut off by a kill ${failedInFlight}, integrity ${c.integrity}`,
    );
    expect(c.integrity).toBe('ok');
    expect(c.missing).toEqual([]);
    expect(c.found).toBe(acked.size);
    // Rows without a 201 (written, killed before the answer left) may exist; never fewer rows than acks.
    expect(c.rows).toBeGreaterThanOrEqual(acked.size);
    const stats = await (await fetch(`${child.url}/api/feedback/stats`)).json();
    expect(stats.total).toBe(c.rows);
    child.proc.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
    child = undefined;
  }, 180_000);
});
