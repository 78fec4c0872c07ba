// `hwr serve --workers 2` whose workers cannot start (the data folder is a file): the primary restarts
// them with a growing delay, gives up after 5 failures in a row and exits 1 with the workers' error.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveTestModel } from '../../src/serve/testing.js';

const ENTRY = fileURLToPath(new URL('./hwr-entry.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-workers-'));
  await saveTestModel(join(root, 'models', 'digits'));
  await writeFile(join(root, 'not-a-folder'), 'a file where the data folder should be\n');
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('a worker pool that cannot start', () => {
  it('exits 1 with the workers error after bounded, growing restarts', async () => {
    const started = Date.now();
    const proc = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        ENTRY,
        'serve',
        '--port',
        '0',
        '--workers',
        '2',
        '--models',
        join(root, 'models'),
        '--data-dir',
        join(root, 'not-a-folder'),
      ],
      { cwd: ROOT, env: { ...process.env, HWR_THREADS: '1' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)));
    const seconds = (Date.now() - started) / 1000;
    const restarts = stderr.match(/starting another in \d+ ms/g) ?? [];
    console.log(`failing pool: exit ${code} after ${seconds.toFixed(1)} s; ${restarts.join(', ')}`);
    expect(code).toBe(1);
    expect(stderr).toMatch(/workers failed 5 times in a row \(last: .*(EEXIST|ENOTDIR).*not-a-folder/);
    // Growing delays: 250, 500, 1000, 2000 ms (the two first workers fail about together).
    expect(restarts.map((r) => Number(/in (\d+) ms/.exec(r)?.[1]))).toEqual([250, 500, 1000, 2000]);
  }, 120_000);
});
