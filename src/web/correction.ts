import { type FeedbackCreated, type FeedbackInput, sendFeedback, undoFeedback } from './api.js';
import type { MessageKey } from './i18n.js';
import type { CorrectionBody } from './outbox.js';

/** How long the Undo button stays after a correction is saved (the server allows 10 minutes). */
export const UNDO_SHOWN_MS = 20_000;

type Translate = (key: MessageKey, params?: Record<string, string | number>) => string;

export interface CorrectionElements {
  readonly right: HTMLButtonElement;
  readonly labels: HTMLDivElement;
  readonly saved: HTMLElement;
  readonly savedText: HTMLElement;
  readonly undo: HTMLButtonElement;
}

export interface CorrectionHooks {
  readonly t: Translate;
  /** What is being answered (a drawing, or one character of a photo), or null when there is none. */
  readonly current: () => { input: FeedbackInput; model: string; predicted: string } | null;
  /** Busy flag shared with the rest of the page (one request at a time). */
  readonly setBusy: (busy: boolean) => void;
  readonly say: (key: MessageKey | null, params?: Record<string, string>) => void;
  readonly onError: (err: unknown) => void;
  /** A row was stored or removed: the page refreshes its counts. */
  readonly onChanged: () => void;
  /** A row was stored with `label`: the page moves on (clears the pad, or goes to the next character). */
  readonly onSaved: (label: string) => void;
  /** The row just stored was removed by Undo. */
  readonly onUndone?: () => void;
  /** data-testid of the label buttons (two panels on one page need different ones). */
  readonly labelTestId?: string;
  /** Stores a correction (default: POST /api/feedback); the page queues it when the server is away. */
  readonly save?: (body: CorrectionBody) => Promise<Receipt>;
  /** Takes a queued correction back; false when it was sent meanwhile. */
  readonly unqueue?: (id: number) => Promise<boolean>;
}

/** Where a correction went: stored by the server, or queued on this device (./outbox.ts). */
export type Receipt = { kind: 'sent'; created: FeedbackCreated } | { kind: 'queued'; id: number };

interface Saved {
  readonly receipt: Receipt;
  readonly label: string;
  readonly predicted: string;
}

/**
 * The correction step: "Right ✓" stores the model's answer as the label, a label button under
 * "No, it was …" stores that label. The saved label is echoed with an Undo button for UNDO_SHOWN_MS,
 * which deletes the row with the one-time token the server returned.
 */
export class CorrectionPanel {
  private saved: Saved | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly el: CorrectionElements,
    private readonly hooks: CorrectionHooks,
  ) {
    el.right.addEventListener('click', () => {
      const now = hooks.current();
      if (now) void this.send(now.predicted);
    });
    el.undo.addEventListener('click', () => void this.undo());
  }

  /** One button per class of the model; the predicted one is marked, not preselected. */
  renderLabels(classes: readonly string[], predicted: string | null): void {
    this.el.labels.replaceChildren(
      ...classes
        .filter((label) => label !== predicted)
        .map((label) => {
          const b = document.createElement('button');
          b.type = 'button';
          b.className = 'label';
          b.textContent = label;
          b.dataset.testid = this.hooks.labelTestId ?? 'feedback-label';
          b.dataset.label = label;
          b.addEventListener('click', () => void this.send(label));
          return b;
        }),
    );
  }

  setDisabled(disabled: boolean): void {
    this.el.right.disabled = disabled;
    for (const b of this.el.labels.querySelectorAll('button')) b.disabled = disabled;
  }

  /** Re-renders the echo in the current language. */
  refresh(): void {
    if (!this.saved) return;
    const { label, predicted, receipt } = this.saved;
    this.el.savedText.textContent =
      receipt.kind === 'queued'
        ? this.hooks.t('savedQueued', { label })
        : label === predicted
          ? this.hooks.t('savedRight', { label })
          : this.hooks.t('savedWrong', { label, predicted });
  }

  private async send(label: string): Promise<void> {
    const now = this.hooks.current();
    if (!now) return;
    this.hooks.setBusy(true);
    this.hooks.say('sending');
    try {
      const body: CorrectionBody = { ...now.input, model: now.model, label, predicted: now.predicted };
      const receipt: Receipt = this.hooks.save
        ? await this.hooks.save(body)
        : { kind: 'sent', created: await sendFeedback(body) };
      this.hooks.say(null);
      this.show({ receipt, label, predicted: now.predicted });
      this.hooks.onSaved(label);
      this.hooks.onChanged();
    } catch (err) {
      this.hooks.onError(err);
    } finally {
      this.hooks.setBusy(false);
    }
  }

  private show(saved: Saved): void {
    this.saved = saved;
    this.refresh();
    this.el.saved.hidden = false;
    this.el.undo.hidden = false;
    this.el.undo.disabled = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.el.undo.hidden = true;
    }, UNDO_SHOWN_MS);
  }

  /** Hides the echo (a new drawing begins). */
  hide(): void {
    clearTimeout(this.timer);
    this.saved = null;
    this.el.saved.hidden = true;
  }

  private async undo(): Promise<void> {
    const saved = this.saved;
    if (!saved) return;
    this.el.undo.disabled = true;
    try {
      const { receipt } = saved;
      if (receipt.kind === 'sent') await undoFeedback(receipt.created);
      else if (!(await this.hooks.unqueue?.(receipt.id))) {
        this.el.undo.hidden = true;
        this.hooks.say('alreadySent');
        return;
      }
      this.hide();
      this.hooks.say('undone');
      this.hooks.onUndone?.();
      this.hooks.onChanged();
    } catch (err) {
      this.el.undo.disabled = false;
      this.hooks.onError(err);
    }
  }
}
