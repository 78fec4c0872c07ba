// Hostile and ordinary PNG/JPEG bytes for the fuzzer and the decoder tests, built once in memory.
import { readFileSync } from 'node:fs';
import { crc32, deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { encodeGrayPng } from '../../src/data/image-codec.js';
import { renderStrokes } from '../../src/preprocess/index.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function pngChunk(type: string, data: Uint8Array): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

export interface RawPngOptions {
  width: number;
  height: number;
  /** Bytes handed to deflate as the image data (filter bytes included), whatever the header says. */
  raw?: Uint8Array;
  /** Or the deflated image data itself. */
  deflated?: Uint8Array;
  interlace?: 0 | 1;
  colorType?: number;
}

/** A PNG with a correct structure and CRCs but any header and any amount of image data. */
export function rawPng({
  width,
  height,
  raw,
  deflated,
  interlace = 0,
  colorType = 0,
}: RawPngOptions): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = colorType;
  ihdr[12] = interlace;
  return Buffer.concat([
    SIGNATURE,
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflated ?? deflateSync(raw ?? new Uint8Array(0), { level: 9 })),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** A digit-like drawing (a ring) as a grayscale PNG of the given size, dark ink on white. */
export function drawingPng(width: number, height: number): Buffer {
  const gray = renderStrokes(
    [
      Array.from({ length: 40 }, (_, i) => {
        const a = (i / 39) * 2 * Math.PI;
        return [50 + 30 * Math.cos(a), 50 + 45 * Math.sin(a)] as const;
      }),
    ],
    { resolution: Math.min(800, Math.min(width, height) * 0.8) },
  );
  const out = new Uint8Array(width * height).fill(255);
  for (let y = 0; y < Math.min(gray.height, height); y++)
    for (let x = 0; x < Math.min(gray.width, width); x++)
      out[y * width + x] = 255 - gray.data[y * gray.width + x];
  return Buffer.from(encodeGrayPng(out, width, height));
}

export interface HostileImages {
  /** Small valid drawings (PNG and JPEG) that decode to something with ink. */
  readonly valid: readonly Buffer[];
  /** The largest image the default decode cap allows (2048x2048), valid. */
  readonly largestAllowed: Buffer;
  /** Files that must be refused without decoding a huge raster. */
  readonly bombs: Readonly<Record<string, Buffer>>;
}

let cached: HostileImages | undefined;

export function hostileImages(): HostileImages {
  if (cached) return cached;
  const small = drawingPng(64, 80);
  const claimsHuge = Buffer.from(small);
  claimsHuge.writeUInt32BE(100_000, 16); // IHDR width
  claimsHuge.writeUInt32BE(100_000, 20); // IHDR height
  const jpegFixture = readFileSync(
    new URL('../fixtures/data/mnist-test-0-dark-on-light-84.jpg', import.meta.url),
  );
  const jpegClaimsHuge = jpegWithFrameSize(jpegFixture, 65_535, 65_535);
  const zeros200MB = deflateSync(new Uint8Array(200e6), { level: 9 });
  cached = {
    valid: [
      small,
      drawingPng(28, 28),
      drawingPng(300, 200),
      readFileSync(new URL('../fixtures/data/mnist-test-0.png', import.meta.url)),
      jpegFixture,
      Buffer.from(jpeg.encode({ width: 40, height: 40, data: Buffer.alloc(40 * 40 * 4, 200) }, 80).data),
    ],
    largestAllowed: drawingPng(2048, 2048),
    bombs: {
      // 87 bytes whose header claims 10^10 pixels.
      'png-ihdr-100000x100000': claimsHuge,
      'png-ihdr-0x0': rawPng({ width: 0, height: 0, raw: new Uint8Array(1) }),
      // Valid header (28x28, interlaced) whose data inflates to 200 MB.
      'png-interlaced-inflates-200MB': rawPng({
        width: 28,
        height: 28,
        interlace: 1,
        raw: new Uint8Array(200e6),
      }),
      // Same, not interlaced: pngjs caps the inflate at the header's size.
      'png-inflates-200MB': rawPng({ width: 28, height: 28, deflated: zeros200MB }),
      // A real 5000x5000 white image is 25 MB of pixels from a 25 kB file: over the cap.
      'png-5000x5000-valid': rawPng({ width: 5000, height: 5000, raw: new Uint8Array(5001 * 5000) }),
      'png-2049x2049-valid': rawPng({ width: 2049, height: 2049, raw: new Uint8Array(2050 * 2049) }),
      'jpeg-sof-65535x65535': jpegClaimsHuge,
    },
  };
  return cached;
}

/** Rewrites the frame header (SOF0) size of a baseline JPEG. */
function jpegWithFrameSize(bytes: Uint8Array, width: number, height: number): Buffer {
  const out = Buffer.from(bytes);
  for (let p = 2; p + 9 < out.length; ) {
    if (out[p] !== 0xff) break;
    const marker = out[p + 1];
    const length = out.readUInt16BE(p + 2);
    if (marker === 0xc0 || marker === 0xc2) {
      out.writeUInt16BE(height, p + 5);
      out.writeUInt16BE(width, p + 7);
      return out;
    }
    p += 2 + length;
  }
  throw new Error('fixture JPEG has no SOF0/SOF2 frame header');
}
