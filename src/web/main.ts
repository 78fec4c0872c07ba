import './style.css';
import { PreprocessError, type Stroke, strokesToMnist } from '../preprocess/index.js';
import {
  ApiError,
  type FeedbackStats,
  feedbackStats,
  listModels,
  type ModelInfo,
  type Prediction,
} from './api.js';
import { CorrectionPanel } from './correction.js';
import { answer } from './device.js';
import { renderFacts } from './facts.js';
import { applyTranslations, type Lang, type MessageKey, startLang, storeLang, translate } from './i18n.js';
import { OfflineMode } from './offline-page.js';
import { DrawingPad } from './pad.js';
import { PhotoMode } from './photo.js';

/** A drawing smaller than this (CSS px, longer side) is a tap or a slip, not a character. */
export const MIN_DRAWING_PX = 4;

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
}

const ui = {
  lang: $<HTMLButtonElement>('lang-toggle'),
  models: $<HTMLSelectElement>('model-select'),
  pad: $<HTMLCanvasElement>('pad'),
  predict: $<HTMLButtonElement>('predict'),
  clear: $<HTMLButtonElement>('clear'),
  status: $<HTMLParagraphElement>('status'),
  result: $<HTMLElement>('result'),
  prediction: $<HTMLOutputElement>('prediction'),
  seen: $<HTMLImageElement>('seen'),
  top: $<HTMLOListElement>('top'),
  parts: $<HTMLParagraphElement>('parts'),
  labels: $<HTMLDivElement>('labels'),
  right: $<HTMLButtonElement>('feedback-right'),
  saved: $<HTMLElement>('saved'),
  savedText: $<HTMLElement>('saved-text'),
  undo: $<HTMLButtonElement>('undo'),
  modelInfo: $<HTMLElement>('model-info'),
  counts: $<HTMLElement>('counts'),
  report: $<HTMLAnchorElement>('report-link'),
  modeDraw: $<HTMLButtonElement>('mode-draw'),
  modePhoto: $<HTMLButtonElement>('mode-photo'),
  draw: $<HTMLElement>('draw'),
  privateSwitch: $<HTMLInputElement>('private'),
  where: $<HTMLElement>('where'),
  privateNote: $<HTMLElement>('private-note'),
  feedback: $<HTMLElement>('feedback'),
};

type Mode = 'draw' | 'photo';
/** `#photo` in the address opens Photo mode (a link a teacher can share). */
const PHOTO_HASH = '#photo';

const state: {
  lang: Lang;
  models: ModelInfo[];
  last: { strokes: Stroke[]; prediction: Prediction } | null;
  stats: FeedbackStats | null;
  busy: boolean;
  mode: Mode;
} = {
  lang: startLang(),
  models: [],
  last: null,
  stats: null,
  busy: false,
  mode: location.hash === PHOTO_HASH ? 'photo' : 'draw',
};

const t = (key: MessageKey, params?: Record<string, string | number>) => translate(state.lang, key, params);

let statusKey: { key: MessageKey; params?: Record<string, string | number> } | null = null;
function say(key: MessageKey | null, params?: Record<string, string | number>): void {
  statusKey = key ? { key, params } : null;
  ui.status.textContent = key ? t(key, params) : '';
}

const offline = new OfflineMode(ui, t, say);

function errorText(err: unknown): { key: MessageKey; params?: Record<string, string> } {
  if (err instanceof ApiError && err.status === 0) return { key: 'offline' };
  return { key: 'error', params: { message: err instanceof Error ? err.message : String(err) } };
}

function currentModel(): ModelInfo | undefined {
  return state.models.find((m) => m.name === ui.models.value);
}

function setLang(lang: Lang): void {
  state.lang = lang;
  document.documentElement.lang = lang;
  applyTranslations(document, lang);
  ui.lang.textContent = t('langToggle');
  ui.lang.lang = lang === 'en' ? 'fr' : 'en';
  renderModelOptions();
  if (state.last) renderPrediction(state.last.prediction);
  if (statusKey) say(statusKey.key, statusKey.params);
  correction.refresh();
  photo.refresh();
  offline.refresh();
  showFacts();
}

/** Draw or Photo: one input section (and its answer) at a time, the choice kept in the address. */
function setMode(mode: Mode): void {
  state.mode = mode;
  ui.modeDraw.setAttribute('aria-pressed', String(mode === 'draw'));
  ui.modePhoto.setAttribute('aria-pressed', String(mode === 'photo'));
  ui.draw.hidden = mode !== 'draw';
  ui.result.hidden = mode !== 'draw' || !state.last;
  photo.show(mode === 'photo');
  const hash = mode === 'photo' ? PHOTO_HASH : '';
  if (location.hash !== hash) history.replaceState(null, '', `${location.pathname}${location.search}${hash}`);
}

function showFacts(): void {
  renderFacts(ui, currentModel(), state.stats, state.lang, t);
}

/** Counts for the chosen model; a failure leaves the line empty (the page works without it). */
async function refreshStats(): Promise<void> {
  const model = currentModel();
  if (!model) return;
  try {
    const stats = await feedbackStats(model.name);
    if (currentModel()?.name === model.name) state.stats = stats;
  } catch {
    state.stats = null;
  }
  showFacts();
}

function renderModelOptions(): void {
  const selected = ui.models.value;
  ui.models.replaceChildren(
    ...state.models.map((m) => {
      const o = document.createElement('option');
      o.value = m.name;
      o.textContent =
        typeof m.accuracy === 'number'
          ? t('accuracy', { name: m.name, acc: (m.accuracy * 100).toFixed(1) })
          : m.name;
      return o;
    }),
  );
  if (selected && state.models.some((m) => m.name === selected)) ui.models.value = selected;
}

function renderPrediction(p: Prediction): void {
  ui.prediction.textContent = p.label;
  ui.seen.src = `data:image/png;base64,${p.input}`;
  ui.top.replaceChildren(
    ...p.top.map(({ label, p: prob }) => {
      const li = document.createElement('li');
      const name = document.createElement('span');
      name.className = 'top-label';
      name.textContent = label;
      // <meter> draws the bar natively: no inline style needed under the page's CSP.
      const bar = document.createElement('meter');
      bar.min = 0;
      bar.max = 1;
      bar.value = prob;
      const pct = (prob * 100).toFixed(prob >= 0.995 || prob < 0.01 ? 1 : 0);
      bar.setAttribute('aria-label', t('confidence', { label, p: pct }));
      const value = document.createElement('span');
      value.className = 'top-p';
      value.textContent = `${pct} %`;
      li.append(name, bar, value);
      return li;
    }),
  );
  correction.renderLabels(currentModel()?.classes ?? [], p.label);
  correction.setDisabled(state.busy);
  renderParts(p);
  ui.result.hidden = state.mode !== 'draw'; // a language switch in Photo mode re-renders it unseen
}

/** The image net's and the stroke net's own answers, under the fused one, when both answered. */
function renderParts(p: Prediction): void {
  const { image, strokes } = p.parts ?? {};
  ui.parts.hidden = !image || !strokes;
  if (!image || !strokes) return;
  const pct = (x: number) => (x * 100).toFixed(0);
  ui.parts.textContent = t('parts', {
    image: image.label,
    imageP: pct(image.confidence),
    strokes: strokes.label,
    strokesP: pct(strokes.confidence),
  });
}

function updateButtons(): void {
  ui.predict.disabled = state.busy || pad.isEmpty || state.models.length === 0;
  ui.clear.disabled = state.busy;
  correction.setDisabled(state.busy || !state.last);
}

function resetResult(): void {
  state.last = null;
  ui.result.hidden = true;
  ui.prediction.textContent = '';
  ui.top.replaceChildren();
  ui.parts.hidden = true;
  ui.seen.removeAttribute('src');
  offline.showAnswer(null);
}

async function onPredict(): Promise<void> {
  const model = currentModel();
  if (!model) return say('noModels');
  const strokes = pad.getStrokes();
  // Same preprocessing as the server: refuse a tap or a speck here, without a round trip.
  try {
    strokesToMnist(strokes, { minExtent: MIN_DRAWING_PX });
  } catch (err) {
    if (err instanceof PreprocessError) return say(pad.isEmpty ? 'drawFirst' : 'nothingDrawn');
    throw err;
  }
  state.busy = true;
  updateButtons();
  say('thinking');
  try {
    // The server, or this device in private mode and when the server is away (./device.ts).
    const { prediction, where } = await answer(strokes, model, 3, offline.isPrivate);
    state.last = { strokes, prediction };
    correction.hide();
    renderPrediction(prediction);
    offline.showAnswer(where);
    say(null);
    if (where === 'server') void offline.flush();
    // On a phone the answer is below the pad: bring it into view.
    ui.result.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  } catch (err) {
    const e = errorText(err);
    say(e.key, e.params);
  } finally {
    state.busy = false;
    updateButtons();
  }
}

const correction = new CorrectionPanel(ui, {
  t,
  current: () => {
    const model = currentModel();
    return state.last && model
      ? {
          input: { strokes: state.last.strokes },
          model: model.name,
          predicted: state.last.prediction.label,
        }
      : null;
  },
  setBusy: (busy) => {
    state.busy = busy;
    updateButtons();
  },
  say,
  onError: (err) => {
    const e = errorText(err);
    say(e.key, e.params);
  },
  onChanged: () => void refreshStats(),
  save: (body) => offline.save(body),
  unqueue: (id) => offline.unqueue(id),
  onSaved: () => {
    pad.clear();
    resetResult();
    ui.pad.focus({ preventScroll: true });
  },
});

const photo = new PhotoMode(
  {
    section: $('photo'),
    input: $<HTMLInputElement>('photo-input'),
    status: $('photo-status'),
    result: $('photo-result'),
    text: $<HTMLOutputElement>('photo-text'),
    view: $<HTMLCanvasElement>('photo-view'),
    sent: $('photo-sent'),
    chars: $<HTMLOListElement>('photo-chars'),
    question: $('photo-question'),
    right: $<HTMLButtonElement>('photo-right'),
    labels: $<HTMLDivElement>('photo-labels'),
    saved: $('photo-saved'),
    savedText: $('photo-saved-text'),
    undo: $<HTMLButtonElement>('photo-undo'),
  },
  { t, model: currentModel, errorText, onChanged: () => void refreshStats() },
);

const pad = new DrawingPad(ui.pad, {
  onChange: () => {
    // A changed drawing makes the shown answer stale.
    if (state.last && !pad.isEmpty) resetResult();
    if (statusKey?.key === 'undone' || statusKey?.key === 'drawFirst') say(null);
    updateButtons();
  },
});
ui.pad.tabIndex = 0;

ui.predict.addEventListener('click', () => void onPredict());
ui.clear.addEventListener('click', () => {
  pad.clear();
  resetResult();
  say(null);
  updateButtons();
});
ui.lang.addEventListener('click', () => {
  const next: Lang = state.lang === 'en' ? 'fr' : 'en';
  storeLang(next);
  setLang(next);
});
ui.modeDraw.addEventListener('click', () => setMode('draw'));
ui.modePhoto.addEventListener('click', () => setMode('photo'));
ui.models.addEventListener('change', () => {
  resetResult();
  photo.reset();
  correction.hide();
  state.stats = null;
  showFacts();
  void refreshStats();
  updateButtons();
});

async function start(): Promise<void> {
  setLang(state.lang);
  setMode(state.mode);
  updateButtons();
  try {
    state.models = await listModels();
  } catch (err) {
    const e = errorText(err);
    return say(e.key, e.params);
  }
  if (state.models.length === 0) return say('noModels');
  renderModelOptions();
  ui.models.value = state.models.some((m) => m.name === 'digits') ? 'digits' : state.models[0].name;
  updateButtons();
  await refreshStats();
  document.body.dataset.ready = 'true';
  void offline.flush();
}

void start();
