import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { StoreEvent } from '../schema/wire.js';
import { writeFileAtomic } from '../util/fs.js';

export { StoreEvent };

export const HISTORY_FILE = 'history.json';

/** Why a version may never become current (it failed verification: weights, shapes, trial load). */
export const BadVersion = z.object({ at: z.string(), reason: z.string() });
export type BadVersion = z.infer<typeof BadVersion>;

/** history.json of a store. */
export const History = z.object({
  /** Versions that were made current, oldest first; the last one is current. */
  stack: z.array(z.string()),
  events: z.array(StoreEvent),
  bad: z.record(z.string(), BadVersion).default({}),
});
export type History = z.infer<typeof History>;

/**
 * The history of a store; a missing or unreadable file gives a stack holding just `current`. Event
 * actions are open strings, so a history written by a newer hwr still parses (and is not replaced).
 */
export async function readHistory(dir: string, current: string | null): Promise<History> {
  try {
    const parsed = History.safeParse(JSON.parse(await readFile(join(dir, HISTORY_FILE), 'utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // missing or not JSON: rebuilt from the pointer below
  }
  return { stack: current ? [current] : [], events: [], bad: {} };
}

export async function writeHistory(dir: string, history: History): Promise<void> {
  await writeFileAtomic(join(dir, HISTORY_FILE), `${JSON.stringify(history, null, 2)}\n`);
}

/** Records that `version` failed verification (an event and the bad mark). */
export function markBad(history: History, version: string, reason: string, note?: string): void {
  const at = new Date().toISOString();
  history.bad[version] = { at, reason };
  history.events.push({ at, action: 'reject', version, note: note ? `${note}: ${reason}` : reason });
}
