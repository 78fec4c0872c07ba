import { PNG } from 'pngjs';
import type { Fusion } from '../model/metadata.js';
import type { EvalResult, Mistake } from './evaluate.js';
import type { PartsEvaluation } from './fused.js';
import type { Averages } from './metrics.js';

/**
 * The HTML parts of the evaluation report (escaping, metrics table, mistakes gallery, their CSS).
 * Kept apart from the charts: vega's module graph has a top-level await, so code that only needs
 * these parts (a notebook loading hwr through require) must not import charts.ts.
 */

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
}

export const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(2)}%`);
export const num = (v: number | null, digits = 4) => (v === null ? '–' : v.toFixed(digits));

/** A 28x28 ink-high image as a data: PNG, drawn dark on white like ink on paper. */
export function mistakeImageDataUrl(pixels: Uint8Array, size = 28): string {
  const png = new PNG({ width: size, height: size });
  for (let i = 0; i < size * size; i++) {
    const v = 255 - pixels[i];
    png.data[i * 4] = v;
    png.data[i * 4 + 1] = v;
    png.data[i * 4 + 2] = v;
    png.data[i * 4 + 3] = 255;
  }
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

export function figure(id: string, caption: string, svg: string): string {
  return `<figure class="plot" id="${id}">${svg}<figcaption>${esc(caption)}</figcaption></figure>`;
}

function averagesRow(label: string, a: Averages, support: number): string {
  return `<tr class="avg"><th>${label}</th><td>${num(a.precision)}</td><td>${num(a.recall)}</td><td>${num(a.f1)}</td><td>${num(a.specificity)}</td><td>${num(a.auc)}</td><td>${support}</td><td></td></tr>`;
}

/** The per-class metrics table (with macro and weighted averages) as an HTML fragment. */
export function perClassTable(result: EvalResult): string {
  const rows = result.perClass
    .map(
      (c) =>
        `<tr><th>${esc(c.label)}</th><td>${num(c.precision)}</td><td>${num(c.recall)}</td><td>${num(c.f1)}</td><td>${num(c.specificity)}</td><td>${num(c.auc)}</td><td>${c.support}</td><td>${c.predicted}</td></tr>`,
    )
    .join('\n');
  return `<table class="metrics" id="per-class">
<thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>specificity</th><th>AUC</th><th>support</th><th>predicted</th></tr></thead>
<tbody>
${rows}
</tbody>
<tfoot>
${averagesRow('macro', result.macro, result.n)}
${averagesRow('weighted', result.weighted, result.n)}
</tfoot>
</table>`;
}

/** The most confident mistakes as an HTML grid of 84 px images with true and predicted labels. */
export function gallery(result: EvalResult, mistakes: readonly Mistake[] = result.mistakes): string {
  if (mistakes.length === 0)
    return '<p id="gallery" class="empty">No mistakes: every sample was classified correctly.</p>';
  const items = mistakes
    .map((m) => {
      const t = esc(result.classes[m.label]);
      const p = esc(result.classes[m.predicted]);
      return `<figure class="mistake"><img src="${mistakeImageDataUrl(m.pixels)}" width="84" height="84" alt="sample ${m.index}: true ${t}, predicted ${p}"><figcaption>true <b>${t}</b> → <b class="bad">${p}</b><br>${pct(m.confidence)} <span class="dim">#${m.index}</span></figcaption></figure>`;
    })
    .join('\n');
  return `<div id="gallery" class="gallery">\n${items}\n</div>`;
}

/** Rows of the fusion's recorded figures: each set it was measured on, each part alone and fused. */
function fusionTable(fusion: Fusion): string {
  const sets = Object.keys(fusion.accuracy ?? {});
  const parts = Object.keys(fusion.partAccuracy ?? {});
  const head = parts.map((p) => `<th>${esc(p)} part</th>`).join('');
  const rows = sets
    .map((set) => {
      const cells = parts.map((p) => `<td>${pct(fusion.partAccuracy?.[p]?.[set] ?? null)}</td>`).join('');
      return `<tr><th>${esc(set)}</th><td>${fusion.samples?.[set] ?? '–'}</td>${cells}<td><b>${pct(fusion.accuracy?.[set] ?? null)}</b></td></tr>`;
    })
    .join('\n');
  return `<table class="metrics" id="fusion">
<thead><tr><th>set</th><th>drawings</th>${head}<th>fused</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
}

function partsGallery(classes: readonly string[], parts: PartsEvaluation): string {
  if (parts.mistakes.length === 0)
    return `<p id="parts-gallery" class="empty">Every one of the ${parts.samples} drawings was read right.</p>`;
  const items = parts.mistakes
    .map((m) => {
      const t = esc(classes[m.label]);
      const a = esc(classes[m.answer]);
      return `<figure class="mistake"><img src="${mistakeImageDataUrl(m.pixels)}" width="84" height="84" alt="drawing ${m.index}: true ${t}, answered ${a}"><figcaption>true <b>${t}</b> → <b class="bad">${a}</b> ${pct(m.confidence)}<br><span class="dim">image ${esc(classes[m.image])} · strokes ${esc(classes[m.strokes])} · #${m.index}</span></figcaption></figure>`;
    })
    .join('\n');
  return `<div id="parts-gallery" class="gallery">\n${items}\n</div>`;
}

/**
 * The section of a fused model's report on drawings sent as strokes: the fusion rule and weights, the
 * figures recorded when the parts were fused (each part alone and fused, per set), and, when this
 * report's run also read pen drawings, every drawing the model got wrong with each part's answer.
 */
export function partsSection(
  classes: readonly string[],
  fusion: Fusion | undefined,
  parts?: PartsEvaluation,
): string {
  if (!fusion && !parts) return '';
  const rule = fusion
    ? `<p>A drawing sent as strokes is answered by softmax(${Object.entries(fusion.weights)
        .map(([p, w]) => `${w} · log P<sub>${esc(p)}</sub>`)
        .join(
          ' + ',
        )}), weights fitted on ${esc(fusion.fittedOn)}. Pixel and image inputs get the image part alone.</p>\n${fusionTable(fusion)}`
    : '';
  const run = parts
    ? `<h3>Drawings read wrongly: ${parts.mistakes.length} of ${parts.samples} (${esc(parts.set)})</h3>
<p>In this run: image part ${pct(parts.image)}, stroke part ${pct(parts.strokes)}, fused ${pct(parts.fused)}. Each drawing as the image part saw it, most confident mistakes first.</p>
${partsGallery(classes, parts)}`
    : '';
  return `<h2>Pen drawings: each part and the fusion</h2>\n${rule}\n${run}\n`;
}

export const PAGE_CSS = `body { font: 14px/1.45 'DejaVu Sans', Verdana, sans-serif; color: #222; margin: 0 auto; max-width: 1100px; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 17px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }`;

/**
 * The styles of the report's parts (cards, plots, metrics table, mistakes gallery): class-scoped, so a
 * notebook can show the same fragments inline without restyling its own page.
 */
export const PART_CSS = `.facts { color: #555; } .dim { color: #888; } .bad { color: #b00020; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 16px 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.card .v { font-size: 20px; font-weight: bold; } .card .k { color: #666; font-size: 12px; }
.notes { background: #fff8e1; border: 1px solid #f0d98c; padding: 8px 8px 8px 28px; }
figure.plot { margin: 12px 0; overflow-x: auto; } figure.plot svg { max-width: 100%; height: auto; }
figcaption { color: #666; font-size: 12px; }
table.metrics { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.metrics th, table.metrics td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
table.metrics thead th { border-bottom: 2px solid #ccc; } tr.avg th, tr.avg td { font-weight: bold; background: #f7f7f7; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(110px, 1fr)); gap: 12px; }
.mistake { margin: 0; text-align: center; } .mistake img { image-rendering: pixelated; border: 1px solid #ccc; }
details pre { background: #f7f7f7; padding: 8px; overflow-x: auto; font-size: 12px; }`;
