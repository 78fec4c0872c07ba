import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCsv, parseCsvImages, writeCsv } from './csv.js';
import { mnistSlice, useTempDir } from './test-helpers.js';

const tempDir = useTempDir();
const digits = { numClasses: 10 };
const enc = (s: string) => new TextEncoder().encode(s);
const row = (label: string | number, pixels: (string | number)[]) => `${label},${pixels.join(',')}`;
const zeros = (n: number) => new Array<number>(n).fill(0);

describe('CSV round trip', () => {
  it('writes the Kaggle layout with a header and reads it back', async () => {
    const ds = await mnistSlice(15);
    const path = join(await tempDir(), 'mnist_test.csv');
    await writeCsv(path, ds.images, ds.labels);
    const text = await readFile(path, 'utf8');
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(16);
    expect(lines[0].startsWith('label,1x1,1x2,')).toBe(true);
    expect(lines[0].endsWith(',28x28')).toBe(true);
    expect(lines[1].split(',')).toHaveLength(785);
    expect(lines[1].split(',')[0]).toBe(String(ds.labels[0]));
    const loaded = await loadCsv(path, digits);
    expect(loaded.n).toBe(15);
    expect(loaded.images).toEqual(ds.images);
    expect(loaded.labels).toEqual(ds.labels);
    expect(loaded.sources[0].path).toBe(path);
  });

  it('reads headerless, gzipped, CRLF files with blank lines', async () => {
    const ds = await mnistSlice(4);
    const dir = await tempDir();
    const gz = join(dir, 'x.csv.gz');
    await writeCsv(gz, ds.images, ds.labels, { header: false });
    expect((await loadCsv(gz, digits)).images).toEqual(ds.images);
    const crlf = `\r\n${row(3, zeros(784))}\r\n\r\n${row(7, zeros(783).concat([255]))}\r\n`;
    const parsed = parseCsvImages(enc(crlf), 'c.csv', digits);
    expect(parsed.n).toBe(2);
    expect([...parsed.labels]).toEqual([3, 7]);
    expect(parsed.images[2 * 784 - 1]).toBe(255);
  });

  it('applies a label offset (EMNIST letters 1..26)', () => {
    const parsed = parseCsvImages(enc(`${row(1, zeros(784))}\n${row(26, zeros(784))}`), 'l.csv', {
      numClasses: 26,
      offset: -1,
    });
    expect([...parsed.labels]).toEqual([0, 25]);
    expect(() => parseCsvImages(enc(row(0, zeros(784))), 'l.csv', { numClasses: 26, offset: -1 })).toThrow(
      /l.csv: line 1, column 1: label 0 outside 1..26/,
    );
  });
});

describe('CSV validation names the line', () => {
  const good = row(5, zeros(784));
  it('wrong column count', () => {
    expect(() => parseCsvImages(enc(`${good}\n${row(5, zeros(783))}\n`), 'a.csv', digits)).toThrow(
      /a.csv: line 2: 784 columns, expected 785/,
    );
    expect(() => parseCsvImages(enc(`${good}\n${good}\n${row(5, zeros(790))}`), 'a.csv', digits)).toThrow(
      /line 3: 791 columns/,
    );
  });

  it('non-numeric and empty values', () => {
    const px = zeros(784) as (string | number)[];
    px[10] = 'abc';
    expect(() => parseCsvImages(enc(`${good}\n${row(1, px)}`), 'b.csv', digits)).toThrow(
      /b.csv: line 2, column 12: 'abc' is not a whole number \(pixel/,
    );
    px[10] = '1.5';
    expect(() => parseCsvImages(enc(row(1, px)), 'b.csv', digits)).toThrow(/'1.5' is not a whole number/);
    px[10] = '';
    expect(() => parseCsvImages(enc(row(1, px)), 'b.csv', digits)).toThrow(/column 12: empty value/);
    // A non-numeric first line of the right width is a header, so this file has no rows.
    expect(() => parseCsvImages(enc(row('x', zeros(784))), 'b.csv', digits)).toThrow(/no data rows/);
    expect(() => parseCsvImages(enc(`${good}\n${row('x', zeros(784))}`), 'b.csv', digits)).toThrow(
      /line 2, column 1: 'x' is not a whole number \(label\)/,
    );
    expect(() => parseCsvImages(enc(`${good}\n${row(-1, zeros(784))}`), 'b.csv', digits)).toThrow(
      /'-1' is not a whole number/,
    );
  });

  it('out-of-range pixel and label', () => {
    const px = zeros(784);
    px[783] = 256;
    expect(() =>
      parseCsvImages(enc(`label,${zeros(784).join(',')}\n${row(1, px)}`), 'c.csv', digits),
    ).toThrow(/c.csv: line 2, column 785: pixel value 256 outside 0..255/);
    expect(() => parseCsvImages(enc(row(10, zeros(784))), 'c.csv', digits)).toThrow(/label 10 outside 0..9/);
  });

  it('wrong header width and empty files', async () => {
    expect(() => parseCsvImages(enc('label,1x1,1x2\n'), 'd.csv', digits)).toThrow(/header has 3 columns/);
    expect(() => parseCsvImages(enc('\n\n'), 'd.csv', digits)).toThrow(/d.csv: no data rows/);
    const path = join(await tempDir(), 'e.csv');
    await writeFile(path, '');
    await expect(loadCsv(path, digits)).rejects.toThrow(/no data rows/);
  });
});
