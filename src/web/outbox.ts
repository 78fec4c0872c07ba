/**
 * Corrections made while the server cannot be reached, kept on this device (IndexedDB) and sent when
 * it is back: in the order they were made, each removed only once the server answered 201 with its
 * id. A correction the server refuses for good (a 4xx other than 408/429: say the model no longer has
 * that label) is dropped, so it cannot hold back the rest; any other failure stops the flush and it
 * is tried again later (on the `online` event, after the next answered request, and on a backoff
 * timer). One flush runs at a time, across tabs too (Web Locks), so no correction is sent twice by
 * two flushes. Each correction carries its Idempotency-Key (made before its first attempt), sent
 * with every attempt: when the server stored one but its answer was lost, the next flush gets the
 * stored row back (200) instead of storing it again.
 */
import { ApiError, type FeedbackCreated, type FeedbackInput } from './api.js';

/** The body of POST /api/feedback: a drawing's strokes or a read character's crop, and the labels. */
export type CorrectionBody = FeedbackInput & { model: string; label: string; predicted?: string };

export interface QueuedCorrection {
  /** Increasing: the order the corrections were made in. */
  readonly id: number;
  readonly body: CorrectionBody;
  /** ISO time it was queued. */
  readonly queuedAt: string;
  /** Its Idempotency-Key; absent in corrections queued by a page older than the key (sent without). */
  readonly key?: string;
}

/** Sends one correction under its key (POST /api/feedback with the Idempotency-Key header). */
export type SendCorrection = (body: CorrectionBody, key?: string) => Promise<FeedbackCreated>;

/** Where queued corrections are kept: IndexedDB on the page (openOutboxStore), memory in tests. */
export interface OutboxStore {
  add(body: CorrectionBody, queuedAt: string, key: string): Promise<number>;
  /** Every queued correction, oldest first. */
  all(): Promise<QueuedCorrection[]>;
  remove(id: number): Promise<void>;
}

export interface FlushResult {
  sent: number;
  /** Refused by the server for good (4xx other than 408/429), with its message. */
  dropped: { correction: QueuedCorrection; error: string }[];
  /** Still queued (a failure stopped the flush, or nothing was tried). */
  left: number;
}

/** True when sending again cannot succeed: the server understood the request and refused it. */
export function refusedForGood(err: unknown): boolean {
  return (
    err instanceof ApiError &&
    err.status >= 400 &&
    err.status < 500 &&
    err.status !== 408 &&
    err.status !== 429
  );
}

/** Wait before retry `attempt` (0-based): 5 s doubling up to 5 minutes. */
export function retryDelayMs(attempt: number): number {
  return Math.min(5_000 * 2 ** Math.max(0, attempt), 300_000);
}

/**
 * Sends the queued corrections oldest first, removing each once `send` resolved (201, or 200 for one
 * the server had stored already under its key); stops at
 * the first failure that may pass (network, 5xx, 408, 429), leaving it and the later ones queued.
 */
export async function flushOutbox(store: OutboxStore, send: SendCorrection): Promise<FlushResult> {
  const queued = await store.all();
  const result: FlushResult = { sent: 0, dropped: [], left: queued.length };
  for (const item of queued) {
    try {
      const created = await send(item.body, item.key);
      if (typeof created?.id !== 'number') throw new ApiError('the server answered without an id', 500);
    } catch (err) {
      if (!refusedForGood(err)) break;
      await store.remove(item.id);
      result.dropped.push({ correction: item, error: (err as Error).message });
      result.left--;
      continue;
    }
    await store.remove(item.id);
    result.sent++;
    result.left--;
  }
  return result;
}

/** An in-memory OutboxStore (tests; and the page's fallback where IndexedDB is unavailable). */
export class MemoryOutboxStore implements OutboxStore {
  private rows: QueuedCorrection[] = [];
  private next = 1;

  async add(body: CorrectionBody, queuedAt: string, key: string): Promise<number> {
    const id = this.next++;
    this.rows.push({ id, body: structuredClone(body), queuedAt, key });
    return id;
  }

  async all(): Promise<QueuedCorrection[]> {
    return this.rows.map((r) => structuredClone(r));
  }

  async remove(id: number): Promise<void> {
    this.rows = this.rows.filter((r) => r.id !== id);
  }
}

export interface OutboxOptions {
  readonly send: SendCorrection;
  /** After each flush that sent or dropped something, or left some queued. */
  readonly onFlushed?: (result: FlushResult) => void;
  /** Runs `fn` holding a lock shared by every tab (navigator.locks); plain call where unavailable. */
  readonly exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
  readonly setTimer?: (fn: () => void, ms: number) => unknown;
  readonly clearTimer?: (timer: unknown) => void;
}

/** The queue with its flush policy: one flush at a time, retried on a backoff timer while non-empty. */
export class Outbox {
  private running: Promise<FlushResult> | undefined;
  private attempt = 0;
  private timer: unknown;

  constructor(
    private readonly store: OutboxStore,
    private readonly options: OutboxOptions,
  ) {}

  /** Queues a correction under `key`: the one its first attempt was sent with, if any. */
  add(body: CorrectionBody, key: string): Promise<number> {
    const id = this.store.add(body, new Date().toISOString(), key);
    void id.then(() => this.retryLater());
    return id;
  }

  /** Takes a correction back out before it was sent; false when it was sent meanwhile. */
  async remove(id: number): Promise<boolean> {
    // Not while a flush may be sending it: wait for this tab's flush and hold the lock of all tabs.
    await this.running?.catch(() => undefined);
    const exclusive = this.options.exclusive ?? ((fn) => fn());
    return exclusive(async () => {
      const present = (await this.store.all()).some((c) => c.id === id);
      if (present) await this.store.remove(id);
      return present;
    });
  }

  async size(): Promise<number> {
    return (await this.store.all()).length;
  }

  /** Sends what is queued; a flush already running is joined, not doubled. */
  flush(): Promise<FlushResult> {
    this.running ??= (async () => {
      try {
        const exclusive = this.options.exclusive ?? ((fn) => fn());
        const result = await exclusive(() => flushOutbox(this.store, this.options.send));
        this.attempt = result.left > 0 ? this.attempt + 1 : 0;
        if (result.sent > 0 || result.dropped.length > 0 || result.left > 0) this.options.onFlushed?.(result);
        return result;
      } finally {
        this.running = undefined;
        if ((await this.size()) > 0) this.retryLater();
      }
    })();
    return this.running;
  }

  private retryLater(): void {
    const set = this.options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    const clear = this.options.clearTimer ?? ((t) => clearTimeout(t as ReturnType<typeof setTimeout>));
    if (this.timer !== undefined) clear(this.timer);
    this.timer = set(() => {
      this.timer = undefined;
      void this.flush();
    }, retryDelayMs(this.attempt));
  }
}
