// Replays held-out UNIPEN digit drawings (pen strokes, writers never trained on) through the real HTTP
// API against the shipped model, as the page would send them.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from './app.js';

// HWR_REPLAY_MODEL replays another model directory (e.g. a fresh training run).
const MODEL_DIR =
  process.env.HWR_REPLAY_MODEL ?? fileURLToPath(new URL('../../models/digits', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../../test/fixtures/strokes/digits.json', import.meta.url));

interface Sample {
  id: string;
  label: string;
  strokes: [number, number][][];
}

const missing = [
  existsSync(join(MODEL_DIR, 'metadata.json')) ? undefined : `no shipped model at ${MODEL_DIR}`,
  existsSync(FIXTURE) ? undefined : `no stroke fixture at ${FIXTURE}`,
].filter(Boolean);
if (missing.length) console.log(`skipping the UNIPEN API replay: ${missing.join('; ')}`);

describe.skipIf(missing.length > 0)('UNIPEN digits through POST /api/predict', () => {
  let server: RunningServer;
  let root: string;

  beforeAll(async () => {
    // Only the digits model, whatever else sits in models/.
    root = await mkdtemp(join(tmpdir(), 'hwr-replay-'));
    await symlink(MODEL_DIR, join(root, 'digits'));
    server = await startServer({
      port: 0,
      modelsDir: root,
      dataDir: join(root, 'data'),
      webDir: false,
      watch: false,
      waitForModels: true,
    });
  }, 60_000);

  afterAll(async () => {
    await server?.app.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('recognises at least 95 % of 500+ held-out writers’ digits', async () => {
    const samples = (JSON.parse(readFileSync(FIXTURE, 'utf8')) as { samples: Sample[] }).samples;
    expect(samples.length).toBeGreaterThanOrEqual(500);
    let right = 0;
    const confusions: Record<string, number> = {};
    for (const s of samples) {
      const res = await fetch(`${server.url}/api/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ strokes: s.strokes }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { label: string };
      if (body.label === s.label) right++;
      else confusions[`${s.label}→${body.label}`] = (confusions[`${s.label}→${body.label}`] ?? 0) + 1;
    }
    const accuracy = right / samples.length;
    const top = Object.entries(confusions)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([k, v]) => `${k} x${v}`);
    console.log(
      `UNIPEN API replay: ${right}/${samples.length} = ${(accuracy * 100).toFixed(2)} % ` +
        `(model ${server.registry.get('digits')?.version}); most frequent errors: ${top.join(', ') || 'none'}`,
    );
    expect(accuracy).toBeGreaterThanOrEqual(0.95);
  }, 120_000);
});
