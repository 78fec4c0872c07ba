// Checks executed notebooks (scripts/notebook.sh test, scripts/test-docker.sh): no cell failed, the
// accuracy each prints is above its floor, and the plots and tables are there.
//   node scripts/notebook-check.mjs paper.out.ipynb letters.out.ipynb
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

// Floors for the quick runs: `paper` on 1,350 images for 2 epochs scores 75-90 % (chance is 10 %);
// the shipped letters model scores 89 % on the held-out stroke fixture, ~90 % on UNIPEN's test writers.
const EXPECT = {
  paper: { accuracy: /^test accuracy: ([\d.]+) %/m, floor: 60, svgs: 4, tables: 1, galleries: 1 },
  letters: {
    accuracy: /^shipped letters model: test accuracy: ([\d.]+) %/m,
    floor: 70,
    svgs: 2,
    tables: 1,
    galleries: 1,
  },
};

const text = (v) => (Array.isArray(v) ? v.join('') : (v ?? ''));

function check(path) {
  const name = basename(path).replace(/(\.out)?\.ipynb$/, '');
  const expect = EXPECT[name];
  if (!expect) throw new Error(`${path}: no expectations for notebook "${name}"`);
  const nb = JSON.parse(readFileSync(path, 'utf8'));
  const outputs = nb.cells.filter((c) => c.cell_type === 'code').flatMap((c) => c.outputs ?? []);
  const problems = [];
  // nbconvert stops at the first failing cell; tslab leaves execution_count empty, so count outputs.
  const silent = nb.cells.filter((c) => c.cell_type === 'code' && !(c.outputs ?? []).length).length;
  if (silent) problems.push(`${silent} code cell(s) without output`);
  for (const o of outputs) {
    if (o.output_type === 'error') problems.push(`error: ${o.ename}: ${o.evalue}`);
    if (o.output_type === 'stream' && o.name === 'stderr' && /error/i.test(text(o.text)))
      problems.push(`stderr: ${text(o.text).slice(0, 300)}`);
  }
  const stdout = outputs
    .filter((o) => o.output_type === 'stream' && o.name === 'stdout')
    .map((o) => text(o.text))
    .join('');
  const match = expect.accuracy.exec(stdout);
  const accuracy = match ? Number(match[1]) : Number.NaN;
  if (!(accuracy >= expect.floor))
    problems.push(`accuracy ${match ? `${accuracy} %` : 'not printed'}, floor ${expect.floor} %`);
  const data = outputs.filter((o) => o.output_type === 'display_data').map((o) => o.data ?? {});
  const svgs = data.filter((d) => /^<svg[\s\S]*<\/svg>\s*$/.test(text(d['image/svg+xml']))).length;
  const html = data.map((d) => text(d['text/html']));
  const tables = html.filter((h) => /<table class="metrics" id="per-class">/.test(h)).length;
  const galleries = html.filter((h) => /<img src="data:image\/png;base64,/.test(h)).length;
  if (svgs < expect.svgs) problems.push(`${svgs} SVG plots, expected ${expect.svgs}`);
  if (tables < expect.tables) problems.push('no per-class metrics table');
  if (galleries < expect.galleries) problems.push('no mistakes gallery');
  const summary = `${name}: accuracy ${accuracy} % (floor ${expect.floor}), ${svgs} SVG plots, ${tables} table(s), ${galleries} gallery(ies)`;
  if (problems.length) throw new Error(`${summary}\n  ${problems.join('\n  ')}`);
  return summary;
}

let failed = 0;
for (const path of process.argv.slice(2)) {
  try {
    console.log(`notebook-check: ${check(path)}`);
  } catch (err) {
    failed++;
    console.error(`notebook-check: FAILED ${err.message}`);
  }
}
if (process.argv.length < 3) {
  console.error('usage: node scripts/notebook-check.mjs NOTEBOOK.ipynb...');
  process.exit(2);
}
process.exit(failed ? 1 : 0);
