import { type FeedbackStats, type ModelInfo, reportUrl } from './api.js';
import type { Lang, MessageKey } from './i18n.js';

type Translate = (key: MessageKey, params?: Record<string, string | number>) => string;

const percent = (x: number) => (x * 100).toFixed(1);

/** What the facts line reads of a served model; a date it cannot read shows as "?". */
type ModelFacts = Pick<ModelInfo, 'name' | 'version' | 'accuracy'> & { readonly createdAt?: string };

/** "digits v0003: test accuracy 99.5 %, trained 6 Dec 2026." (what is served and how good it is). */
export function modelLine(model: ModelFacts, lang: Lang, t: Translate): string {
  const date = model.createdAt
    ? new Intl.DateTimeFormat(lang, { dateStyle: 'medium' }).format(new Date(model.createdAt))
    : '?';
  return t('modelInfo', {
    name: model.name,
    version: model.version,
    acc: typeof model.accuracy === 'number' ? percent(model.accuracy) : '?',
    date,
  });
}

/** "312 corrections so far; the model was right 94.0 % of the time." */
export function countsLine(stats: FeedbackStats, t: Translate): string {
  if (stats.total === 0) return t('countsNone');
  const acc = stats.accuracy === null ? '?' : percent(stats.accuracy);
  return stats.total === 1 ? t('countsOne', { acc }) : t('counts', { n: stats.total, acc });
}

export interface FactsElements {
  readonly modelInfo: HTMLElement;
  readonly counts: HTMLElement;
  readonly report: HTMLAnchorElement;
}

export function renderFacts(
  el: FactsElements,
  model: ModelInfo | undefined,
  stats: FeedbackStats | null,
  lang: Lang,
  t: Translate,
): void {
  el.modelInfo.textContent = model ? modelLine(model, lang, t) : '';
  el.counts.textContent = stats ? countsLine(stats, t) : '';
  el.report.hidden = !model;
  if (model) el.report.href = reportUrl(model.name);
}
