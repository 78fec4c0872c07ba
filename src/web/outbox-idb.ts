import { type DBSchema, openDB } from 'idb';
import type { CorrectionBody, OutboxStore, QueuedCorrection } from './outbox.js';

interface HwrDb extends DBSchema {
  outbox: { key: number; value: { id?: number; body: CorrectionBody; queuedAt: string; key?: string } };
}

/**
 * The outbox in IndexedDB (database `hwr`, store `outbox`): it survives a reload or a closed tab.
 * Auto-increment keys keep the order the corrections were made in.
 */
export async function openOutboxStore(): Promise<OutboxStore> {
  const db = await openDB<HwrDb>('hwr', 1, {
    upgrade(d) {
      d.createObjectStore('outbox', { keyPath: 'id', autoIncrement: true });
    },
  });
  return {
    add: (body, queuedAt, key) => db.add('outbox', { body, queuedAt, key }),
    all: async () => (await db.getAll('outbox')) as QueuedCorrection[],
    remove: (id) => db.delete('outbox', id),
  };
}
