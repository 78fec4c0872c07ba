import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { strokesToMnist } from '../preprocess/index.js';
import { DataError } from './dataset.js';
import {
  HELD_OUT_PERCENT,
  isHeldOutWriter,
  parseUnipen,
  readUnipenFile,
  sampleStrokes,
  unipenRenderOptions,
} from './unipen.js';

const line = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: '1a/aga/x.dat#0',
    label: '7',
    source: 'aga',
    quality: '?',
    writer: 'w1',
    suspect: false,
    pointsPerInch: [856.7, 979.3],
    strokes: [
      [
        [0, 0],
        [100, 0],
        [40, 180],
      ],
    ],
    ...over,
  });

describe('UNIPEN reader', () => {
  it('parses gzip NDJSON and plain NDJSON', () => {
    const text = `${line()}\n${line({ label: 'a', writer: 'w2' })}\n`;
    for (const bytes of [gzipSync(text), Buffer.from(text)]) {
      const s = parseUnipen(bytes, 't.ndjson.gz');
      expect(s.map((x) => x.label)).toEqual(['7', 'a']);
      expect(s[0].pointsPerInch).toEqual([856.7, 979.3]);
      expect(sampleStrokes(s[0])[0][2]).toEqual([40, 180]);
    }
  });

  it('reports the file and line of a bad record', () => {
    const bad = [
      [`${line()}\n{oops\n`, /t\.gz:2: not JSON/],
      [`${line()}\n${line({ strokes: [[[1, 'x']]] })}\n`, /t\.gz:2: strokes\.0\.0\.1/],
      [`${line({ pointsPerInch: [0, 1] })}\n`, /t\.gz:1: pointsPerInch\.0/],
    ] as const;
    for (const [text, message] of bad) {
      expect(() => parseUnipen(gzipSync(text), 't.gz')).toThrow(DataError);
      expect(() => parseUnipen(gzipSync(text), 't.gz')).toThrow(message);
    }
    const truncated = gzipSync(line()).subarray(0, 20);
    expect(() => parseUnipen(truncated, 't.gz')).toThrow(/cannot gunzip/);
  });

  it('says which file is missing', async () => {
    await expect(readUnipenFile('/nonexistent/unipen.ndjson.gz')).rejects.toThrow(
      /cannot read UNIPEN file \/nonexistent\/unipen.ndjson.gz: ENOENT/,
    );
  });

  it('scales each axis by its own resolution so unequal tablets draw upright', () => {
    const [s] = parseUnipen(Buffer.from(line()), 't');
    expect(unipenRenderOptions(s)).toEqual({ scale: [1 / 856.7, 1 / 979.3] });
    // Same shape in inches on a square-resolution tablet gives the same image.
    const square = sampleStrokes(s).map((st) =>
      st.map(([x, y]) => [(x / 856.7) * 500, (y / 979.3) * 500] as const),
    );
    const a = strokesToMnist(sampleStrokes(s), unipenRenderOptions(s));
    const b = strokesToMnist(square);
    let diff = 0;
    for (let i = 0; i < 784; i++) diff += Math.abs(a[i] - b[i]);
    expect(diff / 784).toBeLessThan(0.5);
  });
});

describe('isHeldOutWriter', () => {
  it(`holds out about ${HELD_OUT_PERCENT} % of writers, deterministically, per source`, () => {
    const names = Array.from({ length: 4000 }, (_, i) => `writer${i}`);
    const held = names.filter((w) => isHeldOutWriter('src', w)).length / names.length;
    expect(held).toBeGreaterThan(0.13);
    expect(held).toBeLessThan(0.17);
    expect(names.map((w) => isHeldOutWriter('src', w))).toEqual(names.map((w) => isHeldOutWriter('src', w)));
    // The source is part of the key: the same writer id under another contributor is another person.
    const differ = names.filter((w) => isHeldOutWriter('src', w) !== isHeldOutWriter('other', w)).length;
    expect(differ).toBeGreaterThan(100);
  });

  it('puts every committed stroke fixture in the held-out set', () => {
    for (const file of ['digits', 'letters']) {
      const { samples } = JSON.parse(readFileSync(`test/fixtures/strokes/${file}.json`, 'utf8')) as {
        samples: { source: string; writer: string }[];
      };
      expect(samples.length).toBe(600);
      for (const s of samples) expect(isHeldOutWriter(s.source, s.writer)).toBe(true);
    }
  });
});
