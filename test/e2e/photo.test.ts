/**
 * Browser test of the page's Photo mode against the real server: headless Chromium uploads generated
 * photos of numbers (MNIST test digits rendered on paper by test/synth/paper.ts, seeded) through the
 * page's file input, checks the number and the crops shown against POST /api/read, corrects one
 * character and finds the correction through the API and in SQLite, byte for byte the crop shown.
 *
 * Needs models/digits (or HWR_DIGITS_MODEL) and /usr/bin/chromium; skipped with the reason otherwise.
 */
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSplit } from '../../src/data/datasets.js';
import { PIXELS } from '../../src/model/infer.js';
import type { RunningServer } from '../../src/serve/app.js';
import { deriveSeed } from '../../src/util/random.js';
import { MAX_UPLOAD_SIDE } from '../../src/web/shrink.js';
import { digitStrip, mulberry32 } from '../synth/paper.js';
import { CHROMIUM, horizontalOverflow, launchChromium, openPage, startPageServer } from './page-harness.js';

const MODEL_DIR = process.env.HWR_DIGITS_MODEL ?? 'models/digits';
/** MNIST test digits used here (not the bench's 5000-5199 nor paper.test's 7000-7059). */
const FIRST = 9100;
const SEED = 23;

const missing = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing (run scripts/ensure-test-deps.sh)`
  : !existsSync(join(MODEL_DIR, 'metadata.json'))
    ? `no trained digits model at ${MODEL_DIR} yet (ship models/digits or set HWR_DIGITS_MODEL)`
    : undefined;
if (missing) console.log(`photo browser test skipped: ${missing}`);

interface ReadReply {
  text: string;
  characters: {
    box: { x: number; y: number; width: number; height: number };
    label: string;
    input: string;
  }[];
}

describe.skipIf(missing !== undefined)('the page in Photo mode', () => {
  let tmp: string;
  let server: RunningServer;
  let browser: Browser;
  const pageErrors: string[] = [];
  let digits: Awaited<ReturnType<typeof loadSplit>>;
  const digit = (i: number) => digits.images.subarray(i * PIXELS, (i + 1) * PIXELS);
  const number = (picks: number[]) => picks.map((i) => String(digits.labels[i])).join('');

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'hwr-e2e-photo-'));
    cpSync(MODEL_DIR, join(tmp, 'models', 'digits'), { recursive: true });
    digits = await loadSplit('mnist', 'test');
    server = await startPageServer(tmp);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.app.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** POST /api/read of a file as it is on disk (JSON, base64): what the API answers for it. */
  async function apiRead(page: Page, bytes: Uint8Array): Promise<ReadReply> {
    const res = await page.request.post(new URL('/api/read', server.url).toString(), {
      data: { image: Buffer.from(bytes).toString('base64') },
    });
    expect(res.status(), await res.text()).toBe(200);
    return (await res.json()) as ReadReply;
  }

  /** Chooses `file` in Photo mode; returns the page's own /api/read request body size and answer. */
  async function upload(page: Page, file: string): Promise<{ sent: number; reply: ReadReply }> {
    await page.getByTestId('mode-photo').click();
    const response = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/read');
    await page.getByTestId('photo-input').setInputFiles(file);
    const res = await response;
    expect(res.status()).toBe(200);
    return { sent: res.request().postDataBuffer()?.length ?? 0, reply: (await res.json()) as ReadReply };
  }

  async function feedbackStats(page: Page) {
    const res = await page.request.get(new URL('/api/feedback/stats?model=digits', server.url).toString());
    return (await res.json()) as {
      total: number;
      confusions: { label: string; predicted: string; count: number }[];
    };
  }

  it('reads a photographed number, shows its crops, and stores a correction for one character', async () => {
    const picks = [FIRST, FIRST + 1, FIRST + 2, FIRST + 3];
    const bytes = await digitStrip(picks.map(digit), mulberry32(deriveSeed(SEED, 'strip', 0)));
    const file = join(tmp, 'number.jpg');
    writeFileSync(file, bytes);

    const page = await openPage(browser, server.url, pageErrors, { viewport: { width: 390, height: 800 } });
    const expected = await apiRead(page, bytes);
    expect(expected.text).toBe(number(picks));
    const { reply } = await upload(page, file);
    // The page sends the photo upright and lossless at this size: the server reads it the same way.
    expect(reply.text).toBe(expected.text);
    await expect
      .poll(() => page.getByTestId('photo-text').textContent(), { timeout: 15_000 })
      .toBe(reply.text);
    expect(await page.locator('#draw').isHidden()).toBe(true);

    // One button per character, each with the 28x28 crop the model saw.
    const chars = page.getByTestId('photo-char');
    expect(await chars.count()).toBe(reply.characters.length);
    const shown = await page
      .locator('#photo-chars img')
      .evaluateAll((imgs) =>
        imgs.map((i) => [(i as HTMLImageElement).src, (i as HTMLImageElement).naturalWidth]),
      );
    expect(shown).toEqual(reply.characters.map((c) => [`data:image/png;base64,${c.input}`, 28]));
    // The photo is drawn with the boxes, at the size it was sent.
    const meta = await sharp(bytes).metadata();
    const view = await page.getByTestId('photo-view').evaluate((c: HTMLCanvasElement) => [c.width, c.height]);
    expect(view).toEqual([meta.width, meta.height]);
    expect(await page.getByTestId('photo-sent').textContent()).toContain(`${meta.width}×${meta.height} px`);

    // Character 2 was not a <label>: say which digit it was.
    const second = reply.characters[1];
    const truth = second.label === '0' ? '1' : '0';
    await chars.nth(1).click();
    expect(await chars.nth(1).getAttribute('aria-pressed')).toBe('true');
    expect(await page.getByTestId('photo-question').textContent()).toBe(
      `Character 2, read “${second.label}”: was that right?`,
    );
    await page
      .getByTestId('photo-feedback-label')
      .filter({ hasText: new RegExp(`^${truth}$`) })
      .click();
    await expect
      .poll(() => page.getByTestId('photo-saved-text').textContent())
      .toBe(`Saved: “${truth}” (the model read “${second.label}”). The next retraining learns from it.`);
    // The answered character is marked and the next one is chosen.
    expect(await chars.nth(1).getByTestId('photo-char-saved').textContent()).toBe(`→ ${truth}`);
    expect(await chars.nth(2).getAttribute('aria-pressed')).toBe('true');

    // Stored through the API: one correction, (truth, read label), counted on the page too.
    const stats = await feedbackStats(page);
    expect(stats.total).toBe(1);
    expect(stats.confusions).toEqual([{ label: truth, predicted: second.label, count: 1 }]);
    await expect
      .poll(() => page.getByTestId('counts').textContent())
      .toBe('1 correction so far; the model was right 0.0 % of the time.');
    // ... as the very 28x28 shown for that character.
    const db = new Database(join(tmp, 'data', 'feedback.sqlite'), { readonly: true });
    const row = db.prepare('SELECT input_kind, pixels FROM feedback').get() as {
      input_kind: string;
      pixels: Buffer;
    };
    db.close();
    const crop = await sharp(Buffer.from(second.input, 'base64')).greyscale().raw().toBuffer();
    expect(row.input_kind).toBe('pixels');
    expect(row.pixels.equals(crop)).toBe(true);

    // A 390 px phone: nothing sticks out sideways with the photo, crops and labels shown.
    const overflow = await horizontalOverflow(page);
    expect(overflow.out).toEqual([]);
    expect(overflow.scrollWidth).toBeLessThanOrEqual(390);

    // Undo takes the row back and the character is asked again.
    await page.getByTestId('photo-undo').click();
    await expect.poll(async () => (await feedbackStats(page)).total).toBe(0);
    expect(await chars.nth(1).getAttribute('aria-pressed')).toBe('true');
    expect(await chars.nth(1).getByTestId('photo-char-saved').count()).toBe(0);
    expect(pageErrors).toEqual([]);
    await page.context().close();
  }, 60_000);

  it('shrinks a large phone photo stored sideways (EXIF orientation 6) before upload, and reads it upright, in French at 320 px', async () => {
    const picks = [FIRST + 4, FIRST + 5, FIRST + 6];
    const strip = await digitStrip(picks.map(digit), mulberry32(deriveSeed(SEED, 'strip', 1)));
    // A 4000x3000 photo: the strip enlarged in the middle of the paper, stored rotated a quarter
    // turn the other way with the EXIF tag that turns it upright (how phones store portrait shots).
    const big = await sharp(strip).resize({ width: 3000 }).toBuffer();
    const { height = 0 } = await sharp(big).metadata();
    const upright = await sharp(big)
      .extend({
        top: Math.floor((3000 - height) / 2),
        bottom: Math.ceil((3000 - height) / 2),
        left: 500,
        right: 500,
        background: '#f8f7f2',
      })
      .toBuffer();
    const bytes = await sharp(upright)
      .rotate(270)
      .jpeg({ quality: 90 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const stored = await sharp(bytes).metadata();
    expect([stored.width, stored.height, stored.orientation]).toEqual([3000, 4000, 6]);
    const file = join(tmp, 'phone.jpg');
    writeFileSync(file, bytes);

    const page = await openPage(browser, server.url, pageErrors, {
      locale: 'fr-FR',
      viewport: { width: 320, height: 640 },
    });
    expect(await page.getByTestId('mode-photo').textContent()).toBe('Photo');
    const expected = await apiRead(page, bytes);
    expect(expected.text).toBe(number(picks));
    const { sent, reply } = await upload(page, file);
    expect(reply.text).toBe(expected.text);
    // Sent upright, at most MAX_UPLOAD_SIDE px, a fraction of the file.
    const side = MAX_UPLOAD_SIDE;
    const scaled = [side, Math.round((3000 * side) / 4000)];
    expect(
      await page.getByTestId('photo-view').evaluate((c: HTMLCanvasElement) => [c.width, c.height]),
    ).toEqual(scaled);
    expect(sent).toBeLessThan(bytes.length / 2);
    await expect
      .poll(() => page.getByTestId('photo-text').textContent(), { timeout: 15_000 })
      .toBe(reply.text);
    expect(await page.getByTestId('photo-sent').textContent()).toMatch(
      new RegExp(`^Lu sur ${scaled[0]}×${scaled[1]} px \\(\\d+ Ko envoyés ; la photo fait 4000×3000\\)\\.$`),
    );
    expect(await page.getByTestId('photo-question').textContent()).toBe(
      `Caractère 1, lu « ${reply.characters[0].label} » : est-ce juste ?`,
    );
    const overflow = await horizontalOverflow(page);
    expect(overflow.out).toEqual([]);
    expect(overflow.scrollWidth).toBeLessThanOrEqual(320);
    // In English: the read's texts follow the language.
    await page.getByTestId('lang-toggle').click();
    expect(await page.getByTestId('photo-question').textContent()).toBe(
      `Character 1, read “${reply.characters[0].label}”: was that right?`,
    );
    expect(await page.getByTestId('photo-sent').textContent()).toMatch(/^Read from 1600×1200 px/);
    // Back to drawing: the pad returns, the photo's answer is put away.
    await page.getByTestId('mode-draw').click();
    expect(await page.getByTestId('pad').isVisible()).toBe(true);
    expect(await page.locator('#photo-result').isHidden()).toBe(true);
    expect(pageErrors).toEqual([]);
    await page.context().close();
  }, 60_000);
});
