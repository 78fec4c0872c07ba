// A served model replaced (atomically) by a copy with a truncated weights file: the running server
// rejects it with a log line and keeps serving the previous version.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIXELS } from '../../src/model/infer.js';
import { METADATA_FILE, MODEL_FILE, WEIGHTS_FILE, writeModelDir } from '../../src/model/io.js';
import { saveTestModel } from '../../src/serve/testing.js';
import { type ServeChild, startServe } from './child.js';

let root: string;
let child: ServeChild | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-corrupt-'));
  await saveTestModel(join(root, 'models', 'digits'), { version: 'v1' });
}, 60_000);

afterAll(async () => {
  child?.proc.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

const pixels = Array.from({ length: PIXELS }, (_, i) => (i % 28 > 10 && i % 28 < 16 ? 255 : 0));

async function predictVersion(url: string): Promise<string> {
  const res = await fetch(`${url}/api/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ pixels }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { model: { version: string } }).model.version;
}

describe('a truncated weights file', () => {
  it('is rejected with a log line while the previous version keeps serving', async () => {
    child = await startServe(['--models', join(root, 'models'), '--data-dir', join(root, 'data')]);
    expect(await predictVersion(child.url)).toBe('v1');

    const dir = join(root, 'models', 'digits');
    const weights = await readFile(join(dir, WEIGHTS_FILE));
    const meta = JSON.parse(await readFile(join(dir, METADATA_FILE), 'utf8'));
    await writeModelDir(dir, {
      [MODEL_FILE]: await readFile(join(dir, MODEL_FILE), 'utf8'),
      [WEIGHTS_FILE]: weights.subarray(0, Math.floor(weights.length / 2)),
      [METADATA_FILE]: JSON.stringify({ ...meta, version: 'v2-truncated' }),
    });

    const rejected = await child.waitFor((l) => l.msg === 'model rejected', 20_000);
    console.log(`log: ${JSON.stringify(rejected)}`);
    expect(String(rejected.err)).toContain(
      `weights are ${Math.floor(weights.length / 2)} bytes, metadata says ${weights.length}`,
    );
    expect(rejected.keeps).toBe('digits@v1');
    expect(rejected.level).toBe(50); // pino "error"
    expect(await predictVersion(child.url)).toBe('v1');
    const { models } = (await (await fetch(`${child.url}/api/models`)).json()) as {
      models: Array<{ name: string; version: string }>;
    };
    expect(models.map((m) => `${m.name}@${m.version}`)).toEqual(['digits@v1']);
    expect((await fetch(`${child.url}/readyz`)).status).toBe(200);
  }, 90_000);
});
