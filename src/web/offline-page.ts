/**
 * The page's offline and private behaviour, kept out of main.ts: the "Private: nothing leaves this
 * device" switch (remembered in localStorage), the line saying where an answer was computed, and
 * corrections queued on the device (./outbox.ts) while the server is away.
 *
 * In private mode the correction step is replaced by a note and nothing is sent or queued: a user who
 * turned on "nothing leaves this device" expects exactly that, and a correction queued silently and
 * sent after the switch is turned off would break the promise. Turning Private off brings the
 * correction step back for the next drawing.
 */
import { sendFeedback } from './api.js';
import type { Receipt } from './correction.js';
import { newCorrectionKey } from './correction-key.js';
import { serverUnreachable, type Where } from './device.js';
import type { MessageKey } from './i18n.js';
import type { CorrectionBody, FlushResult, Outbox } from './outbox.js';

const PRIVATE_KEY = 'hwr.private';

export interface OfflineElements {
  readonly privateSwitch: HTMLInputElement;
  readonly where: HTMLElement;
  readonly privateNote: HTMLElement;
  readonly feedback: HTMLElement;
}

type Say = (key: MessageKey, params?: Record<string, string | number>) => void;

function stored(): boolean {
  try {
    return localStorage.getItem(PRIVATE_KEY) === '1';
  } catch {
    return false;
  }
}

function store(on: boolean): void {
  try {
    if (on) localStorage.setItem(PRIVATE_KEY, '1');
    else localStorage.removeItem(PRIVATE_KEY);
  } catch {
    // storage disabled: the switch still holds for this page
  }
}

/** Runs `fn` holding the outbox lock of every tab of this site, where the browser has Web Locks. */
function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  if (typeof navigator.locks?.request !== 'function') return fn();
  // request() resolves with what the callback's promise resolves to (typed as the promise itself).
  return navigator.locks.request('hwr-outbox', fn) as unknown as Promise<T>;
}

export class OfflineMode {
  private where: Where | null = null;
  private outbox: Promise<Outbox> | undefined;
  private readonly onFlushed: (r: FlushResult) => void;

  constructor(
    private readonly el: OfflineElements,
    private readonly t: (key: MessageKey, params?: Record<string, string | number>) => string,
    say: Say,
  ) {
    el.privateSwitch.checked = stored();
    el.privateSwitch.addEventListener('change', () => {
      store(el.privateSwitch.checked);
      this.refresh(); // an answer on screen loses (or regains) its correction step
    });
    this.onFlushed = (r) => {
      if (r.dropped.length > 0) say('queueDropped', { message: r.dropped[0].error });
      else if (r.sent > 0) say(r.sent === 1 ? 'queueSentOne' : 'queueSent', { n: r.sent });
    };
    window.addEventListener('online', () => void this.flush());
  }

  /** The outbox, from its own chunk (./outbox-open.ts) on first use. */
  private open(): Promise<Outbox> {
    this.outbox ??= import('./outbox-open.js')
      .then((m) => m.openOutbox({ send: sendFeedback, exclusive, onFlushed: this.onFlushed }))
      .catch((err: unknown) => {
        this.outbox = undefined; // the chunk could not be fetched: try again next time
        throw err;
      });
    return this.outbox;
  }

  get isPrivate(): boolean {
    return this.el.privateSwitch.checked;
  }

  /** Shows where the answer was computed; in private mode the correction step gives way to a note. */
  showAnswer(where: Where | null): void {
    this.where = where;
    const onDevice = where === 'private' || where === 'offline';
    this.el.where.hidden = !onDevice;
    this.el.where.textContent = onDevice ? this.t(where === 'private' ? 'whereDevice' : 'whereOffline') : '';
    const noCorrections = where !== null && this.isPrivate;
    this.el.privateNote.hidden = !noCorrections;
    this.el.feedback.hidden = noCorrections;
  }

  /** Re-renders in the current language. */
  refresh(): void {
    this.showAnswer(this.where);
  }

  /**
   * Stores a correction on the server, or queues it here when the server is away. Its key is made
   * before the first attempt and queued with it: that attempt may have been stored with its answer
   * lost, and the outbox's retry must name the same correction.
   */
  async save(body: CorrectionBody): Promise<Receipt> {
    if (this.isPrivate) throw new Error('private mode: corrections are not sent');
    const key = newCorrectionKey();
    try {
      return { kind: 'sent', created: await sendFeedback(body, key) };
    } catch (err) {
      if (!serverUnreachable(err)) throw err;
      return { kind: 'queued', id: await (await this.open()).add(body, key) };
    }
  }

  async unqueue(id: number): Promise<boolean> {
    return (await this.open()).remove(id);
  }

  /** Sends the queued corrections (the server just answered, or the browser is back online). */
  async flush(): Promise<void> {
    if (this.isPrivate) return;
    try {
      await (await this.open()).flush();
    } catch {
      // IndexedDB failed mid-flush: what was not removed stays queued for the next try
    }
  }
}
