/**
 * The outbox with its IndexedDB store, as one lazy chunk (idb and the queue): the page imports it
 * when idle after start-up (to send what an earlier visit queued) or when a correction must be queued,
 * never on its first paint.
 */
import { MemoryOutboxStore, Outbox, type OutboxOptions, type OutboxStore } from './outbox.js';
import { openOutboxStore } from './outbox-idb.js';

export async function openOutbox(options: OutboxOptions): Promise<Outbox> {
  // IndexedDB refused (a browser's strict private browsing): kept for this page only.
  const store = await openOutboxStore().catch((): OutboxStore => new MemoryOutboxStore());
  return new Outbox(store, options);
}
