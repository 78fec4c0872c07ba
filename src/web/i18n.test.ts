import { describe, expect, it } from 'vitest';
import { initialLang, translate } from './i18n.js';

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
