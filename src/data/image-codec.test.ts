import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { DataError } from './dataset.js';
import { decodeImage, detectImageFormat, encodeGrayPng } from './image-codec.js';
import { mnistSlice } from './test-helpers.js';

/** A real MNIST digit, 28x28 grayscale. */
async function digit(): Promise<Uint8Array> {
  return (await mnistSlice(1)).images;
}

function grayToRgba(gray: Uint8Array): Uint8Array {
  const out = new Uint8Array(gray.length * 4);
  gray.forEach((v, i) => {
    out.set([v, v, v, 255], i * 4);
  });
  return out;
}

function red(rgba: Uint8Array | Uint8ClampedArray): Uint8Array {
  return Uint8Array.from({ length: rgba.length / 4 }, (_, i) => rgba[i * 4]);
}

function jpegOf(gray: Uint8Array, w: number, h: number): Uint8Array {
  return jpeg.encode({ width: w, height: h, data: Buffer.from(grayToRgba(gray)) }, 95).data;
}

function setU16(bytes: Uint8Array, at: number, v: number) {
  bytes[at] = v >> 8;
  bytes[at + 1] = v & 0xff;
}

describe('PNG', () => {
  it('encodes 8-bit grayscale and decodes back to RGBA exactly', async () => {
    const px = await digit();
    const png = encodeGrayPng(px, 28, 28);
    expect(detectImageFormat(png)).toBe('png');
    const meta = PNG.sync.read(Buffer.from(png), { skipRescale: true }) as PNG & { colorType: number };
    expect(meta.colorType).toBe(0);
    const img = decodeImage(png);
    expect([img.width, img.height, img.data.length]).toEqual([28, 28, 28 * 28 * 4]);
    expect(red(img.data)).toEqual(px);
    expect(img.data[3]).toBe(255);
  });

  it('encodes non-square images and rejects wrong sizes', () => {
    const px = Uint8Array.from({ length: 6 }, (_, i) => i * 40);
    expect(red(decodeImage(encodeGrayPng(px, 3, 2)).data)).toEqual(px);
    expect(() => encodeGrayPng(px, 4, 2)).toThrow(/6 bytes for a 4x2 image/);
    expect(() => encodeGrayPng(px, 0, 2)).toThrow(DataError);
  });

  it('rejects truncated and corrupt PNGs', async () => {
    const png = encodeGrayPng(await digit(), 28, 28);
    expect(() => decodeImage(png.subarray(0, 20))).toThrow(/corrupt PNG: missing or truncated IHDR/);
    expect(() => decodeImage(png.subarray(0, png.length - 30))).toThrow(/corrupt or truncated PNG image/);
    const flipped = png.slice();
    flipped[png.length - 40] ^= 0xff; // inside IDAT: CRC or zlib fails
    expect(() => decodeImage(flipped)).toThrow(/corrupt or truncated PNG image/);
  });

  it('rejects oversized header dimensions before decoding', async () => {
    const png = encodeGrayPng(await digit(), 28, 28);
    const bomb = png.slice();
    new DataView(bomb.buffer).setUint32(16, 100_000);
    new DataView(bomb.buffer).setUint32(20, 100_000);
    const t = performance.now();
    expect(() => decodeImage(bomb)).toThrow(
      /100000x100000 \(10000000000 pixels\), more than the 16777216 allowed/,
    );
    expect(performance.now() - t).toBeLessThan(50);
    expect(() => decodeImage(png, { maxPixels: 28 * 27 })).toThrow(/28x28 \(784 pixels\), more than the 756/);
    expect(decodeImage(png, { maxPixels: 28 * 28 }).width).toBe(28);
  });
});

describe('JPEG', () => {
  it('decodes a JPEG of a digit close to the original', async () => {
    const px = await digit();
    const jpg = jpegOf(px, 28, 28);
    expect(detectImageFormat(jpg)).toBe('jpeg');
    const img = decodeImage(jpg);
    expect([img.width, img.height]).toEqual([28, 28]);
    const back = red(img.data);
    let diff = 0;
    px.forEach((v, i) => {
      diff += Math.abs(v - back[i]);
    });
    expect(diff / px.length).toBeLessThan(6); // lossy, but the same picture
  });

  it('reads SOF dimensions and rejects oversized frames before decoding', async () => {
    const jpg = jpegOf(await digit(), 28, 28).slice();
    // Find the baseline frame header and claim 60000x60000.
    let sof = -1;
    for (let i = 2; i < jpg.length - 1; i++) {
      if (jpg[i] === 0xff && jpg[i + 1] === 0xc0) {
        sof = i + 2;
        break;
      }
    }
    expect(sof).toBeGreaterThan(0);
    setU16(jpg, sof + 3, 60000);
    setU16(jpg, sof + 5, 60000);
    expect(() => decodeImage(jpg)).toThrow(/60000x60000 .* more than the 16777216 allowed/);
    const small = jpegOf(new Uint8Array(40 * 30).fill(200), 40, 30);
    expect(() => decodeImage(small, { maxPixels: 1000 })).toThrow(/40x30 \(1200 pixels\)/);
  });

  it('rejects truncated and corrupt JPEGs', async () => {
    const jpg = jpegOf(await digit(), 28, 28);
    expect(() => decodeImage(jpg.subarray(0, 10))).toThrow(/corrupt or truncated JPEG/);
    expect(() => decodeImage(jpg.subarray(0, jpg.length - 200))).toThrow(DataError);
    const bad = jpg.slice();
    bad[2 + 2 + 1] = 0x00; // APP0 length bytes: segment walk leaves the marker stream
    bad[4] = 0x00;
    expect(() => decodeImage(bad)).toThrow(/corrupt JPEG/);
  });
});

describe('non-images', () => {
  it('rejects empty, text and random bytes', () => {
    expect(() => decodeImage(new Uint8Array(0))).toThrow(/not a PNG or JPEG image \(0 bytes\)/);
    expect(() => decodeImage(new TextEncoder().encode('GIF89a....'))).toThrow(/unknown signature/);
    const random = Uint8Array.from({ length: 500 }, (_, i) => (i * 7919 + 13) % 251);
    expect(() => decodeImage(random)).toThrow(DataError);
  });
});

describe('committed fixtures (test/fixtures/data)', () => {
  const fixture = (name: string) =>
    readFileSync(new URL(`../../test/fixtures/data/${name}`, import.meta.url));

  it('mnist-test-0.png is MNIST test image #0 exactly', async () => {
    const img = decodeImage(fixture('mnist-test-0.png'));
    expect(red(img.data)).toEqual(await digit());
  });

  it('the dark-on-light JPEG is the same digit, inverted and scaled 3x', async () => {
    const img = decodeImage(fixture('mnist-test-0-dark-on-light-84.jpg'));
    expect([img.width, img.height]).toEqual([84, 84]);
    const px = await digit();
    let diff = 0;
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        diff += Math.abs(255 - img.data[((y * 3 + 1) * 84 + x * 3 + 1) * 4] - px[y * 28 + x]);
      }
    }
    expect(diff / 784).toBeLessThan(8);
  });
});
