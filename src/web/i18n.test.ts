import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ADMIN_MESSAGES, adminText } from './admin-i18n.js';
import { initialLang, translate } from './i18n.js';

/** The keys an HTML page names in data-i18n, data-i18n-aria-label and data-i18n-placeholder. */
function keysOf(file: string): string[] {
  const html = readFileSync(new URL(file, import.meta.url), 'utf8');
  return [...html.matchAll(/data-i18n(?:-aria-label|-placeholder)?="([^"]+)"/g)].map((m) => m[1]);
}

describe('page language', () => {
  it('takes the stored choice, else the first known browser language, else English', () => {
    expect(initialLang('fr', ['en-US'])).toBe('fr');
    expect(initialLang(null, ['fr-CA', 'en'])).toBe('fr');
    expect(initialLang(null, ['de-DE', 'en-GB', 'fr'])).toBe('en');
    expect(initialLang('xx', ['de-DE'])).toBe('en');
    expect(initialLang(null, [])).toBe('en');
  });

  it('fills parameters and translates every message', () => {
    expect(translate('en', 'confidence', { label: '7', p: 99 })).toBe('7: 99 %');
    expect(translate('fr', 'confidence', { label: '7', p: 99 })).toBe('7 : 99 %');
    expect(translate('fr', 'predict')).toBe('Reconnaître');
    expect(translate('en', 'error', {})).toBe('Error: {message}');
  });
});

describe('admin view language', () => {
  it('has every key admin.html names, in both languages, and French text for each', () => {
    const keys = keysOf('./admin.html');
    expect(keys.length).toBeGreaterThan(20);
    for (const key of keys) {
      expect(ADMIN_MESSAGES.en, key).toHaveProperty(key);
      expect(ADMIN_MESSAGES.fr, key).toHaveProperty(key);
    }
    // Only names and symbols read the same in both languages.
    const same = Object.keys(ADMIN_MESSAGES.en).filter(
      (k) =>
        ADMIN_MESSAGES.en[k as keyof typeof ADMIN_MESSAGES.en] ===
        ADMIN_MESSAGES.fr[k as keyof typeof ADMIN_MESSAGES.fr],
    );
    expect(same.sort()).toEqual(['colCorrections', 'colVersion', 'eventNote', 'versionsHeading']);
    expect(adminText('fr', 'summary', { total: 60, correct: 51, withPrediction: 60, acc: '85.0 %' })).toBe(
      '60 corrections ; le modèle avait raison sur 51 de 60 (85.0 %).',
    );
  });

  it('leaves no data-i18n key of the draw page without a message', () => {
    for (const key of keysOf('./index.html'))
      expect(translate('fr', key as never), key).not.toMatch(/^undefined|^\{/);
  });
});
