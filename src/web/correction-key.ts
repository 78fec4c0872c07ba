/**
 * A correction's Idempotency-Key: a random (version 4) UUID, made once per correction and sent with
 * every attempt of it. crypto.randomUUID exists only in secure contexts (HTTPS, localhost), and a
 * classroom server is reached over plain HTTP on the LAN (`--host 0.0.0.0`), where
 * crypto.getRandomValues still works: the same 122 random bits, formatted by hand.
 */
export function newCorrectionKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
