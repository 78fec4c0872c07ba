import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const hwr = (...args: string[]) =>
  run('node', ['bin/hwr.js', ...args], { env: { ...process.env, HWR_THREADS: '1' } });
const model = 'models/digits';

// Runs the built CLI (npm ci builds it) against the shipped model and committed MNIST fixtures.
describe.skipIf(!existsSync(`${model}/metadata.json`) || !existsSync('dist/cli/main.js'))(
  'hwr predict',
  () => {
    it('reads MNIST test image #0 (a 7) as PNG and as an inverted, enlarged JPEG', async () => {
      const { stdout } = await hwr(
        'predict',
        '--model',
        model,
        '--json',
        'test/fixtures/data/mnist-test-0.png',
        'test/fixtures/data/mnist-test-0-dark-on-light-84.jpg',
      );
      const lines = stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.map((l) => l.label)).toEqual(['7', '7']);
      for (const l of lines) expect(l.confidence).toBeGreaterThan(0.9);
    });

    it('names the file that is not an image and exits 1', async () => {
      const err = await hwr('predict', '--model', model, 'package.json').catch((e) => e);
      expect(err.code).toBe(1);
      expect(err.stderr).toMatch(/package\.json: not a PNG or JPEG image/);
    });

    it('goes on past bad files, then exits 1 naming them', async () => {
      const err = await hwr(
        'predict',
        '--model',
        model,
        '--json',
        'package.json',
        'no-such-file.png',
        'test/fixtures/data/mnist-test-0.png',
      ).catch((e) => e);
      expect(err.code).toBe(1);
      // The good image after the two bad ones is still read.
      expect(JSON.parse(err.stdout.trim()).label).toBe('7');
      expect(err.stderr).toMatch(/package\.json: not a PNG or JPEG image/);
      expect(err.stderr).toMatch(/no-such-file\.png: cannot read the file \(ENOENT\)/);
      expect(err.stderr).toMatch(/2 of 3 images could not be read: package\.json, no-such-file\.png/);
    });
  },
);
