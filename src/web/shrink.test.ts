import { describe, expect, it } from 'vitest';
import { fitWithin, MAX_UPLOAD_SIDE } from './shrink.js';

describe('the upload size of a photo', () => {
  it('shrinks the longer side to the limit and keeps the aspect ratio', () => {
    expect(fitWithin(6000, 4000, MAX_UPLOAD_SIDE)).toEqual({ width: 1600, height: 1067 });
    expect(fitWithin(3024, 4032, MAX_UPLOAD_SIDE)).toEqual({ width: 1200, height: 1600 });
    // A long thin strip still keeps at least one pixel.
    expect(fitWithin(100_000, 10, 1600)).toEqual({ width: 1600, height: 1 });
  });

  it('never enlarges a small scan', () => {
    expect(fitWithin(28, 28, MAX_UPLOAD_SIDE)).toEqual({ width: 28, height: 28 });
    expect(fitWithin(1600, 900, MAX_UPLOAD_SIDE)).toEqual({ width: 1600, height: 900 });
  });
});
