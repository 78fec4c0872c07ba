import { afterEach, describe, expect, it, vi } from 'vitest';
import { newCorrectionKey } from './correction-key.js';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

afterEach(() => vi.unstubAllGlobals());

describe('newCorrectionKey', () => {
  it('makes distinct version-4 UUIDs, also where crypto.randomUUID is missing (plain HTTP on a LAN)', () => {
    const secure = Array.from({ length: 200 }, newCorrectionKey);
    // An insecure context: crypto without randomUUID, getRandomValues only.
    const real = globalThis.crypto;
    vi.stubGlobal('crypto', { getRandomValues: (a: Uint8Array) => real.getRandomValues(a) });
    expect(typeof crypto.randomUUID).toBe('undefined');
    const plain = Array.from({ length: 200 }, newCorrectionKey);
    vi.unstubAllGlobals();
    for (const key of [...secure, ...plain]) expect(key).toMatch(V4);
    expect(new Set([...secure, ...plain]).size).toBe(400);
  });
});
