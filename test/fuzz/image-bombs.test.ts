// Decompression bombs and lying headers against the shared decoder (src/data/image-codec.ts):
// each is refused with a DataError, quickly and without allocating the raster it claims.
import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/dataset.js';
import { decodeImage } from '../../src/data/image-codec.js';
import { readImage } from '../../src/data/image-read.js';

/** The limit these files are built against (the server's default is larger: 48 Mpx photos). */
const MAX_IMAGE_PIXELS = 2048 * 2048;

import { hostileImages, rawPng } from './images.js';

const MB = 2 ** 20;

describe('decodeImage against hostile files', () => {
  const { bombs, largestAllowed } = hostileImages();

  it.each(Object.keys(bombs))('refuses %s fast and without a large allocation', (name) => {
    const before = process.memoryUsage.rss();
    const started = performance.now();
    let error: unknown;
    try {
      decodeImage(bombs[name], { maxPixels: MAX_IMAGE_PIXELS });
    } catch (err) {
      error = err;
    }
    const ms = performance.now() - started;
    expect(error).toBeInstanceOf(DataError);
    expect(ms).toBeLessThan(1000);
    expect((process.memoryUsage.rss() - before) / MB).toBeLessThan(100);
  });

  it.each(Object.keys(bombs))(
    'handles %s on the server path (sharp) without a large allocation',
    async (name) => {
      const before = process.memoryUsage.rss();
      const outcome = await readImage(bombs[name], { maxPixels: MAX_IMAGE_PIXELS }).catch(
        (err: unknown) => err,
      );
      // Refused, or (a non-interlaced PNG whose data inflates past its 28x28 header) decoded at the
      // header's size: libvips reads only the rows the header promises.
      if (outcome instanceof DataError) expect(outcome.message).not.toBe('');
      else expect(outcome).toMatchObject({ original: { width: 28, height: 28 } });
      expect((process.memoryUsage.rss() - before) / MB).toBeLessThan(100);
    },
  );

  it('names the reason: the claimed size, or data larger than the header allows', () => {
    expect(() => decodeImage(bombs['png-ihdr-100000x100000'])).toThrow(/100000x100000 .* more than the/);
    expect(() => decodeImage(bombs['png-interlaced-inflates-200MB'])).toThrow(
      'corrupt PNG: image data inflates to more than the 837 bytes a 28x28 image needs',
    );
    expect(() => decodeImage(bombs['jpeg-sof-65535x65535'])).toThrow(/65535x65535/);
  });

  it('still decodes interlaced PNGs whose data has the exact Adam7 size', () => {
    // 28x28 gray, Adam7: 837 bytes of scanlines (filter byte 0 each) decode to a black image.
    const image = decodeImage(rawPng({ width: 28, height: 28, interlace: 1, raw: new Uint8Array(837) }));
    expect([image.width, image.height]).toEqual([28, 28]);
    expect(image.data.length).toBe(28 * 28 * 4);
    expect(() =>
      decodeImage(rawPng({ width: 28, height: 28, interlace: 1, raw: new Uint8Array(838) })),
    ).toThrow(DataError);
  });

  it('decodes the largest image the limit allows (2048x2048)', () => {
    const image = decodeImage(largestAllowed, { maxPixels: MAX_IMAGE_PIXELS });
    expect([image.width, image.height]).toEqual([2048, 2048]);
  });
});
