/**
 * Screenshots for the docs, taken from the real page and server: the draw page on a 390 px phone
 * (answer, then the saved correction), Photo mode reading a number on the phone, the admin view after
 * a small retrain on the corrections made (its log, the gate's verdict, the versions) and the shipped
 * digits model's report.
 *
 *   npm run docs:screenshots        # writes docs/screenshots/*.png
 *
 * Serves a copy of models/digits from a temporary folder with a throwaway admin token and feedback
 * database; draws held-out UNIPEN digits from test/fixtures and photographs MNIST test digits
 * (test/synth/paper.ts, seeded); needs /usr/bin/chromium.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadSplit } from '../src/data/datasets.js';
import { PIXELS } from '../src/model/infer.js';
import { deriveSeed } from '../src/util/random.js';
import { drawFixture, launchChromium, readableFixtures, startPageServer } from '../test/e2e/page-harness.js';
import { digitStrip, mulberry32 } from '../test/synth/paper.js';

const OUT = resolve('docs/screenshots');
const TOKEN = `screenshots-${Math.random().toString(36).slice(2)}-token`;

const tmp = mkdtempSync(join(tmpdir(), 'hwr-screenshots-'));
try {
  mkdirSync(OUT, { recursive: true });
  cpSync('models/digits', join(tmp, 'models', 'digits'), { recursive: true });
  const fixtures = await readableFixtures(
    join(tmp, 'models', 'digits'),
    'test/fixtures/strokes/digits.json',
    10,
  );
  const server = await startPageServer(tmp, { admin: { token: TOKEN } });
  const browser = await launchChromium();
  try {
    // Phone: a few corrections first, so the counts line has numbers.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    const page = await phone.newPage();
    await page.goto(server.url);
    await page.locator('body[data-ready="true"]').waitFor();
    for (const f of fixtures.slice(0, 6)) {
      await drawFixture(page, f);
      await page.getByTestId('predict').click();
      await page.getByTestId('feedback-right').waitFor();
      await page.getByTestId('feedback-right').click();
      await page.getByTestId('saved').waitFor();
    }
    await drawFixture(page, fixtures[6]);
    await page.getByTestId('predict').click();
    await page.getByTestId('feedback-right').waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(OUT, 'phone-page.png'), fullPage: true });
    await page.getByTestId('feedback-label').first().click();
    await page.getByTestId('saved').waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(OUT, 'phone-saved.png'), fullPage: true });

    // Photo mode: a number written on paper (MNIST t10k 9100-9103, the photo test's first strip, read
    // right), its first digit answered.
    const mnist = await loadSplit('mnist', 'test');
    const picks = [9100, 9101, 9102, 9103].map((i) => mnist.images.subarray(i * PIXELS, (i + 1) * PIXELS));
    const photo = join(tmp, 'number.jpg');
    writeFileSync(photo, await digitStrip(picks, mulberry32(deriveSeed(23, 'strip', 0))));
    await page.getByTestId('mode-photo').click();
    await page.getByTestId('photo-input').setInputFiles(photo);
    await page.getByTestId('photo-right').waitFor();
    await page.getByTestId('photo-right').click();
    await page.getByTestId('photo-saved').waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(OUT, 'phone-photo.png'), fullPage: true });
    await phone.close();

    const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const admin = await desktop.newPage();
    await admin.goto(`${server.url}/admin`);
    await admin.getByTestId('token').fill(TOKEN);
    await admin.getByTestId('signin').click();
    await admin.locator('body[data-ready="true"]').waitFor();
    // A retrain on the corrections above, small enough for a docs run (1 epoch, 500 replayed
    // training images, the gate on 1,000 test images): the shot shows its log, the gate's verdict
    // with its numbers and the version history it leaves.
    await admin.locator('input[name="epochs"]').fill('1');
    await admin.locator('input[name="replay"]').fill('500');
    await admin.locator('input[name="testLimit"]').fill('1000');
    await admin.getByTestId('retrain').click();
    await admin.waitForFunction(
      () => !['', 'running'].includes(document.getElementById('job-state')?.dataset.state ?? ''),
      undefined,
      { timeout: 900_000, polling: 1000 },
    );
    await admin.screenshot({ path: join(OUT, 'admin.png'), fullPage: true });
    const report = await desktop.newPage();
    await report.goto(`${server.url}/api/models/digits/report`);
    await report.screenshot({ path: join(OUT, 'report.png') });
    await desktop.close();
  } finally {
    await browser.close();
    await server.app.close();
  }
  console.log(`wrote ${OUT}/{phone-page,phone-saved,phone-photo,admin,report}.png`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
