import { createHash } from 'node:crypto';

/**
 * Idempotency-Key (IETF draft-ietf-httpapi-idempotency-key-header) for POST /api/feedback: a client
 * that sends a correction again because the answer was lost (the page's offline outbox) sends it
 * with the key of the first attempt, and the server answers the row stored then instead of storing a
 * second one. The key is kept with the row (a unique index in both stores), so it lasts as long as
 * the row: an undo deletes both.
 */

/** The key inside the header value: the draft's sf-string form ("…") or the bare key many clients send. */
export function keyOfHeader(value: string): string {
  return value.startsWith('"') ? value.slice(1, -1) : value;
}

/**
 * sha256 (hex) of the request body as validated (zod's output, keys in the schema's order): the
 * fingerprint the draft compares to tell a retry from a different request under the same key.
 * Spacing and key order of the JSON the client sent do not matter.
 */
export function requestHash(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}
