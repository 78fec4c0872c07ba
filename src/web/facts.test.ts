import { describe, expect, it } from 'vitest';
import { countsLine, modelLine } from './facts.js';
import { type MessageKey, translate } from './i18n.js';

const en = (key: MessageKey, params?: Record<string, string | number>) => translate('en', key, params);
const fr = (key: MessageKey, params?: Record<string, string | number>) => translate('fr', key, params);

describe('the page facts line', () => {
  it('counts corrections with the share the model got right', () => {
    const stats = (total: number, correct: number) => ({
      total,
      withPrediction: total,
      correct,
      accuracy: total ? correct / total : null,
    });
    expect(countsLine(stats(0, 0), en)).toBe('No corrections yet for this model.');
    expect(countsLine(stats(1, 1), en)).toBe('1 correction so far; the model was right 100.0 % of the time.');
    expect(countsLine(stats(312, 293), en)).toBe(
      '312 corrections so far; the model was right 93.9 % of the time.',
    );
    expect(countsLine(stats(312, 293), fr)).toBe(
      '312 corrections jusqu’ici ; le modèle avait raison 93.9 % du temps.',
    );
  });

  it('names the served version, its test accuracy ("exactitude" in French) and its training date', () => {
    const model = {
      name: 'digits',
      version: 'v0003',
      classes: [],
      accuracy: 0.9953,
      createdAt: '2026-12-06T12:00:00Z',
    };
    expect(modelLine(model, 'en', en)).toBe('digits v0003: test accuracy 99.5 %, trained Dec 6, 2026.');
    expect(modelLine(model, 'fr', fr)).toBe(
      'digits v0003 : exactitude en test 99.5 %, entraîné le 6 déc. 2026.',
    );
    expect(modelLine({ ...model, accuracy: null, createdAt: undefined }, 'en', en)).toBe(
      'digits v0003: test accuracy ? %, trained ?.',
    );
  });
});
