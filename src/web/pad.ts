import type { Point, Stroke } from '../preprocess/index.js';

export interface PadOptions {
  /** Called after each finished stroke and on clear. */
  readonly onChange?: (strokes: readonly Stroke[]) => void;
}

/**
 * A square drawing pad on a <canvas>, driven by Pointer Events (mouse, touch and pen alike).
 * Points are kept in CSS pixels of the pad (its logical "canvas pixels"), independent of the device
 * pixel ratio; the backing store is scaled so lines stay sharp on high-density screens.
 */
export class DrawingPad {
  private readonly ctx: CanvasRenderingContext2D;
  private strokes: Point[][] = [];
  private current: Point[] | null = null;
  private pointerId: number | null = null;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly options: PadOptions = {},
  ) {
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('canvas 2D is not available');
    this.ctx = ctx;
    canvas.addEventListener('pointerdown', (e) => this.down(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    canvas.addEventListener('pointerup', (e) => this.up(e));
    canvas.addEventListener('pointercancel', (e) => this.up(e));
    // Belt and braces with `touch-action: none`: no scroll, zoom or context menu while drawing.
    canvas.addEventListener('touchstart', (e) => e.preventDefault(), { passive: false });
    canvas.addEventListener('contextmenu', (e) => e.preventDefault());
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
  }

  get isEmpty(): boolean {
    return this.strokes.length === 0;
  }

  /** The finished strokes, in CSS pixels of the pad. */
  getStrokes(): Stroke[] {
    return this.strokes.map((s) => [...s]);
  }

  clear(): void {
    this.strokes = [];
    this.current = null;
    this.pointerId = null;
    this.redraw();
    this.options.onChange?.(this.getStrokes());
  }

  private point(e: PointerEvent): Point {
    const r = this.canvas.getBoundingClientRect();
    return [Math.round((e.clientX - r.left) * 10) / 10, Math.round((e.clientY - r.top) * 10) / 10];
  }

  private down(e: PointerEvent): void {
    if (this.pointerId !== null || (e.pointerType === 'mouse' && e.button !== 0)) return;
    e.preventDefault();
    this.pointerId = e.pointerId;
    this.canvas.setPointerCapture(e.pointerId);
    this.current = [this.point(e)];
    this.strokes.push(this.current);
    this.redraw();
  }

  private move(e: PointerEvent): void {
    if (e.pointerId !== this.pointerId || !this.current) return;
    e.preventDefault();
    // Coalesced events keep fast strokes smooth where the browser batches pointer moves.
    const events = typeof e.getCoalescedEvents === 'function' ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) {
      const p = this.point(ev);
      const last = this.current[this.current.length - 1];
      if (p[0] !== last[0] || p[1] !== last[1]) this.current.push(p);
    }
    this.redraw();
  }

  private up(e: PointerEvent): void {
    if (e.pointerId !== this.pointerId) return;
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    this.pointerId = null;
    this.current = null;
    this.options.onChange?.(this.getStrokes());
  }

  private resize(): void {
    const r = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(r.width * dpr));
    const h = Math.max(1, Math.round(r.height * dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.redraw();
  }

  private redraw(): void {
    const { ctx, canvas } = this;
    const r = canvas.getBoundingClientRect();
    ctx.clearRect(0, 0, r.width, r.height);
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.lineWidth = Math.max(6, r.width / 28);
    ctx.strokeStyle = getComputedStyle(canvas).color;
    ctx.fillStyle = ctx.strokeStyle;
    for (const s of this.strokes) {
      if (s.length === 1) {
        ctx.beginPath();
        ctx.arc(s[0][0], s[0][1], ctx.lineWidth / 2, 0, Math.PI * 2);
        ctx.fill();
        continue;
      }
      ctx.beginPath();
      ctx.moveTo(s[0][0], s[0][1]);
      for (let i = 1; i < s.length; i++) ctx.lineTo(s[i][0], s[i][1]);
      ctx.stroke();
    }
  }
}
