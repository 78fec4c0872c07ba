import { ApiError, type ModelInfo, type ReadCharacter, type ReadResult, readPhoto } from './api.js';
import { type CorrectionElements, CorrectionPanel } from './correction.js';
import type { MessageKey } from './i18n.js';
import { type ShrunkPhoto, shrinkPhoto } from './shrink.js';

type Params = Record<string, string | number>;
type Translate = (key: MessageKey, params?: Params) => string;

export interface PhotoElements extends CorrectionElements {
  readonly section: HTMLElement;
  readonly input: HTMLInputElement;
  readonly status: HTMLElement;
  readonly result: HTMLElement;
  readonly text: HTMLOutputElement;
  readonly view: HTMLCanvasElement;
  readonly sent: HTMLElement;
  readonly chars: HTMLOListElement;
  readonly question: HTMLElement;
}

export interface PhotoHooks {
  readonly t: Translate;
  /** The model chosen on the page. */
  readonly model: () => ModelInfo | undefined;
  /** The server's words for an error, as the page shows them. */
  readonly errorText: (err: unknown) => { key: MessageKey; params?: Params };
  /** A correction was stored or removed: the page refreshes its counts. */
  readonly onChanged: () => void;
}

interface Reading {
  readonly result: ReadResult;
  readonly model: ModelInfo;
  readonly photo: ShrunkPhoto;
  /** Per character, the label stored for it (null: no answer yet). */
  readonly saved: (string | null)[];
}

const percent = (p: number) => (p * 100).toFixed(0);

/**
 * The page's Photo mode: a photo (camera or file) is shrunk on the device, read by POST /api/read,
 * and shown with each character framed and numbered on it, its 28x28 crop and its answer. Each
 * character gets the drawing's correction step ("Right ✓" / "No, it was …", echo and Undo); the
 * correction sends that character's crop back, so the server needs no memory of the read.
 */
export class PhotoMode {
  private reading: Reading | null = null;
  private selected = 0;
  /** The character whose answer was stored last (what Undo takes back). */
  private lastSaved = -1;
  private busy = false;
  private status: { key: MessageKey; params?: Params } | null = null;
  private readonly correction: CorrectionPanel;

  constructor(
    private readonly el: PhotoElements,
    private readonly hooks: PhotoHooks,
  ) {
    this.correction = new CorrectionPanel(el, {
      t: hooks.t,
      labelTestId: 'photo-feedback-label',
      current: () => {
        const c = this.character();
        return this.reading && c
          ? { input: { crop: c.input }, model: this.reading.model.name, predicted: c.label }
          : null;
      },
      setBusy: (busy) => this.setBusy(busy),
      say: (key, params) => this.say(key, params),
      onError: (err) => this.sayError(err),
      onChanged: hooks.onChanged,
      onSaved: (label) => this.onSaved(label),
      onUndone: () => {
        if (!this.reading || this.lastSaved < 0) return;
        this.reading.saved[this.lastSaved] = null;
        this.selected = this.lastSaved;
        this.render();
      },
    });
    el.input.addEventListener('change', () => {
      const file = el.input.files?.[0];
      // Cleared so that choosing the same file again reads it again.
      el.input.value = '';
      if (file) void this.readFile(file);
    });
  }

  /** Shows or hides the mode (the result only when there is one). */
  show(visible: boolean): void {
    this.el.section.hidden = !visible;
    this.el.result.hidden = !visible || !this.reading;
  }

  /** Forgets the shown read (another model was chosen). */
  reset(): void {
    this.reading = null;
    this.correction.hide();
    this.el.result.hidden = true;
    this.say(null);
  }

  /** Re-renders every text in the current language. */
  refresh(): void {
    if (this.status) this.say(this.status.key, this.status.params);
    this.correction.refresh();
    if (this.reading) this.render();
  }

  private character(): ReadCharacter | undefined {
    return this.reading?.result.characters[this.selected];
  }

  private say(key: MessageKey | null, params?: Params): void {
    this.status = key ? { key, params } : null;
    this.el.status.textContent = key ? this.hooks.t(key, params) : '';
  }

  private sayError(err: unknown): void {
    const e = this.hooks.errorText(err);
    this.say(e.key, e.params);
  }

  private setBusy(busy: boolean): void {
    this.busy = busy;
    this.el.input.disabled = busy;
    this.correction.setDisabled(busy || !this.character());
    for (const b of this.el.chars.querySelectorAll('button')) b.disabled = busy;
  }

  private async readFile(file: File): Promise<void> {
    const model = this.hooks.model();
    if (!model) return this.say('noModels');
    if (this.busy) return;
    this.setBusy(true);
    this.say('thinking');
    try {
      let photo: ShrunkPhoto;
      try {
        photo = await shrinkPhoto(file);
      } catch {
        return this.say('photoUnreadable');
      }
      const result = await readPhoto(photo.blob, model.name, 3);
      this.reading = { result, model, photo, saved: result.characters.map(() => null) };
      this.selected = 0;
      this.lastSaved = -1;
      this.correction.hide();
      this.say(null);
      this.el.result.hidden = false; // first, so the view has its on-screen size (drawView)
      this.render();
      // On a phone the answer is below the button: bring it into view.
      this.el.result.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    } catch (err) {
      if (err instanceof ApiError && err.status === 400 && err.message === 'nothing drawn')
        this.say('photoNothing');
      else this.sayError(err);
    } finally {
      this.setBusy(false);
    }
  }

  private onSaved(label: string): void {
    const reading = this.reading;
    if (!reading) return;
    reading.saved[this.selected] = label;
    this.lastSaved = this.selected;
    const n = reading.saved.length;
    const next = Array.from({ length: n }, (_, k) => (this.selected + 1 + k) % n).find(
      (i) => reading.saved[i] === null,
    );
    if (next === undefined) this.say('photoAllDone');
    else this.selected = next;
    this.render();
  }

  private render(): void {
    const reading = this.reading;
    if (!reading) return;
    const { t } = this.hooks;
    const { result, photo } = reading;
    this.el.text.textContent = result.text;
    this.drawView(reading);
    this.el.sent.textContent = t('photoSent', {
      w: photo.canvas.width,
      h: photo.canvas.height,
      kb: Math.max(1, Math.round(photo.blob.size / 1024)),
      ow: photo.original.width,
      oh: photo.original.height,
    });
    this.el.chars.replaceChildren(...result.characters.map((c, i) => this.characterItem(c, i)));
    const c = this.character();
    this.el.question.textContent = c ? t('photoQuestion', { n: this.selected + 1, label: c.label }) : '';
    this.correction.renderLabels(reading.model.classes, c?.label ?? null);
    this.setBusy(this.busy);
  }

  /** One button per character: its number, its 28x28 crop, its label and confidence, its answer. */
  private characterItem(c: ReadCharacter, i: number): HTMLLIElement {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.testid = 'photo-char';
    b.setAttribute('aria-pressed', String(i === this.selected));
    b.setAttribute(
      'aria-label',
      this.hooks.t('photoChar', { n: i + 1, label: c.label, p: percent(c.confidence) }),
    );
    const n = document.createElement('span');
    n.className = 'char-n';
    n.textContent = String(i + 1);
    const img = document.createElement('img');
    img.src = `data:image/png;base64,${c.input}`;
    img.alt = '';
    img.width = 42;
    img.height = 42;
    const label = document.createElement('span');
    label.className = 'char-label';
    label.textContent = c.label;
    const p = document.createElement('span');
    p.className = 'char-p';
    p.textContent = `${percent(c.confidence)} %`;
    b.append(n, img, label, p);
    const saved = this.reading?.saved[i];
    if (saved != null) {
      const mark = document.createElement('span');
      mark.className = 'char-saved';
      mark.dataset.testid = 'photo-char-saved';
      mark.textContent = saved === c.label ? '✓' : `→ ${saved}`;
      b.append(mark);
    }
    b.addEventListener('click', () => {
      this.selected = i;
      this.render();
    });
    li.append(b);
    return li;
  }

  /** The photo as sent, each character's box drawn on it with its number; the chosen one stands out. */
  private drawView(reading: Reading): void {
    const { canvas } = reading.photo;
    const view = this.el.view;
    view.width = canvas.width;
    view.height = canvas.height;
    const ctx = view.getContext('2d');
    if (!ctx) return;
    ctx.drawImage(canvas, 0, 0);
    // Lines and numbers of the same size on screen whatever the photo's size: in canvas pixels per
    // CSS pixel of the shown view (object-fit: contain scales by the tighter side).
    const k = Math.max(
      1,
      view.clientWidth > 0 && view.clientHeight > 0
        ? Math.max(view.width / view.clientWidth, view.height / view.clientHeight)
        : 1,
    );
    const line = 2 * k;
    const font = 14 * k;
    ctx.lineWidth = line;
    ctx.font = `bold ${font}px system-ui, sans-serif`;
    ctx.textBaseline = 'bottom';
    reading.result.characters.forEach((c, i) => {
      const colour = i === this.selected ? '#f0a500' : '#1f5fd1';
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.strokeRect(c.box.x, c.box.y, c.box.width, c.box.height);
      ctx.fillText(String(i + 1), c.box.x, Math.max(font, c.box.y - line));
    });
  }
}
