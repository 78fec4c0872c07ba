import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RENDERER_VERSION, strokesToMnist } from './index.js';
import type { Stroke } from './types.js';

/**
 * Pins the pixels each RENDERER_VERSION produces on the committed stroke fixtures: cached training
 * data (keyed by the version) and the letters model trained on it depend on these exact bytes. A
 * faster renderer must leave the digests unchanged; one that changes pixels must bump
 * RENDERER_VERSION and add that version's digests here.
 */
const FIXTURES = ['digits', 'letters'] as const;
const MNIST_DIGESTS: Record<number, Record<(typeof FIXTURES)[number], string>> = {
  1: {
    digits: '9ac72e961a7bd0b237d539f58b6f4b2e23ded9feb2aabc06ff23429ff7cd23a3',
    letters: '7580ceba334626d560d329e990f87612604c4ed5741ae2d8403db016057f967d',
  },
};

const samples = (name: string): { strokes: Stroke[] }[] =>
  (
    JSON.parse(readFileSync(`test/fixtures/strokes/${name}.json`, 'utf8')) as {
      samples: { strokes: Stroke[] }[];
    }
  ).samples;

describe(`renderer pixels of RENDERER_VERSION ${RENDERER_VERSION}`, () => {
  it.each(FIXTURES)('strokesToMnist gives the pinned bytes on the %s fixture', (name) => {
    const pinned = MNIST_DIGESTS[RENDERER_VERSION];
    expect(pinned, `add the digests of RENDERER_VERSION ${RENDERER_VERSION}`).toBeDefined();
    const all = samples(name);
    expect(all.length).toBeGreaterThanOrEqual(500);
    const hash = createHash('sha256');
    for (const s of all) hash.update(strokesToMnist(s.strokes));
    expect(hash.digest('hex')).toBe(pinned[name]);
  });
});
