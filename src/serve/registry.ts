import { type FSWatcher, statSync, watch } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { IMAGE_SIZE, PIXELS } from '../model/infer.js';
import { type LoadedModel, loadModel, METADATA_FILE, ModelError } from '../model/io.js';
import type { ModelMetadata } from '../model/metadata.js';
import { entryDirOf } from '../store/catalog.js';
import { isStoreDir, servedDir } from '../store/store.js';
import type { InferenceThread } from './inference-thread.js';
import { type BatchingOptions, NO_BATCHING, Predictor } from './predictor.js';

/** The part of pino's logger the registry uses (Fastify's `app.log` fits). */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ServedModel {
  readonly name: string;
  readonly version: string;
  readonly metadata: ModelMetadata;
  readonly dir: string;
  readonly predictor: Predictor;
  readonly loadedAt: Date;
  /** Identity of the directory contents it was loaded from (inode + metadata mtime). */
  readonly fingerprint: string;
}

export type RegistryEvent =
  | { kind: 'loaded'; model: ServedModel; replaced?: ServedModel }
  | { kind: 'rejected'; dir: string; error: string }
  | { kind: 'removed'; model: ServedModel };

export interface RegistryOptions {
  /** Folder whose subdirectories (each with a metadata.json) are the models. */
  readonly dir: string;
  readonly log: Logger;
  readonly batching?: BatchingOptions;
  /** Where forward passes run; default: this thread. */
  readonly inferenceThread?: InferenceThread;
  /** Delay between a change in the folder and the rescan, so a burst of renames is one rescan. */
  readonly debounceMs?: number;
  readonly onEvent?: (event: RegistryEvent) => void;
  /**
   * The directory to serve for a store entry (default: its `current` link). A cluster passes the
   * version its shared database names (src/store/catalog.ts).
   */
  readonly resolve?: (entryDir: string) => Promise<string>;
  /** Checked before a directory is loaded (a cluster compares file hashes with the record). */
  readonly verify?: (dir: string) => Promise<void>;
}

async function fingerprintOf(dir: string): Promise<string | undefined> {
  try {
    const [d, m] = await Promise.all([stat(dir), stat(join(dir, METADATA_FILE))]);
    return `${d.ino}:${m.ino}:${m.mtimeMs}:${m.size}`;
  } catch {
    return undefined; // not a model directory (or vanished meanwhile)
  }
}

/** Checks a freshly loaded model really answers 28x28x1 images with a probability vector. */
function validate(loaded: LoadedModel, predictor: Predictor): void {
  const shape = loaded.model.inputs[0].shape;
  if (shape.length !== 4 || shape[1] !== IMAGE_SIZE || shape[2] !== IMAGE_SIZE || shape[3] !== 1)
    throw new ModelError(`${loaded.dir}: model input is [${shape.join(', ')}], expected [null, 28, 28, 1]`);
  // Warm-up: the first pass compiles kernels and allocates; doing it here keeps it off a request.
  const probs = predictor.predictNow(new Uint8Array(PIXELS), 1);
  let sum = 0;
  for (const p of probs) {
    if (!Number.isFinite(p) || p < 0) throw new ModelError(`${loaded.dir}: model outputs ${p}`);
    sum += p;
  }
  if (Math.abs(sum - 1) > 1e-3)
    throw new ModelError(`${loaded.dir}: outputs sum to ${sum.toFixed(4)}, not 1 (no softmax?)`);
}

/**
 * The models being served, keyed by their metadata `name`. Request model names are only ever looked
 * up in this map, never turned into paths. `watch()` follows the folder: a model directory replaced
 * (atomically, as saveModel does) is loaded and validated in the background and swapped in; a broken
 * one is rejected with a log line and the previous version keeps serving.
 */
export class ModelRegistry {
  readonly dir: string;
  private readonly byName = new Map<string, ServedModel>();
  /** Counter for inference-thread keys: each loaded copy gets its own. */
  private copies = 0;
  /** Fingerprints already tried and rejected, so a broken model is not reloaded on every event. */
  private readonly rejected = new Map<string, string>();
  private watcher: FSWatcher | undefined;
  /** Store folders (src/store) by path: the watcher and the inode it watches (adoption replaces it). */
  private readonly storeWatchers = new Map<string, { ino: number; watcher?: FSWatcher }>();
  private debounce: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private rescanAgain = false;
  private closed = false;
  private initialScanDone = false;

  constructor(private readonly options: RegistryOptions) {
    this.dir = resolve(options.dir);
  }

  get(name: string): ServedModel | undefined {
    return this.byName.get(name);
  }

  list(): ServedModel[] {
    return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** True once the first scan of the folder finished. */
  get scanned(): boolean {
    return this.initialScanDone;
  }

  /** True once the first scan finished and at least one model is being served. */
  get ready(): boolean {
    return this.initialScanDone && this.byName.size > 0;
  }

  /** Loads every model in the folder (or what changed since the last scan). Concurrent calls coalesce. */
  rescan(): Promise<void> {
    if (this.scanning) {
      this.rescanAgain = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      try {
        do {
          this.rescanAgain = false;
          await this.scanOnce();
        } while (this.rescanAgain && !this.closed);
      } finally {
        this.scanning = undefined;
        this.initialScanDone = true;
      }
    })();
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const { log } = this.options;
    let entries: string[];
    try {
      entries = (await readdir(this.dir, { withFileTypes: true }))
        // Dot-directories are saveModel's temp/old copies mid-rename; symlinks are followed (stat below).
        .filter((e) => (e.isDirectory() || e.isSymbolicLink()) && !e.name.startsWith('.'))
        .map((e) => join(this.dir, e.name))
        .sort();
      // A versioned store (src/store) is served through its `current` symlink; its folder is watched
      // too, since switching the pointer is not an event in the models folder itself.
      for (const dir of entries) if (isStoreDir(dir)) this.watchStore(dir);
      const { resolve: resolveDir } = this.options;
      entries = resolveDir ? await Promise.all(entries.map(resolveDir)) : entries.map(servedDir);
    } catch (err) {
      log.error({ dir: this.dir, err: (err as Error).message }, 'cannot read the models folder');
      return;
    }
    const seen = new Set<string>();
    for (const dir of entries) {
      if (this.closed) return;
      const fingerprint = await fingerprintOf(dir);
      if (!fingerprint) continue;
      seen.add(dir);
      // The model served for the same entry: same directory, or another version of the same store.
      const current = this.list().find((m) => entryDirOf(m.dir) === entryDirOf(dir));
      if (current?.fingerprint === fingerprint || this.rejected.get(dir) === fingerprint) continue;
      await this.load(dir, fingerprint, current);
    }
    for (const model of this.list()) {
      if (seen.has(model.dir)) continue;
      // A saveModel replacement renames the old directory away just before the new one arrives;
      // only a directory still missing after a pause has really been removed.
      await new Promise((r) => setTimeout(r, 500));
      if (this.closed || (await fingerprintOf(model.dir))) continue;
      this.byName.delete(model.name);
      log.warn({ model: model.name, dir: model.dir }, 'model directory removed; model unloaded');
      this.options.onEvent?.({ kind: 'removed', model });
      model.predictor.close();
    }
  }

  private async load(dir: string, fingerprint: string, current: ServedModel | undefined): Promise<void> {
    const { log } = this.options;
    let loaded: LoadedModel | undefined;
    // Created once and kept: its fused plan holds folded weight copies that close() frees.
    let predictor: Predictor | undefined;
    try {
      await this.options.verify?.(dir);
      loaded = await loadModel(dir);
      predictor = new Predictor(loaded, this.options.batching ?? NO_BATCHING);
      validate(loaded, predictor);
      const name = loaded.metadata.name;
      const holder = this.byName.get(name);
      if (holder && entryDirOf(holder.dir) !== entryDirOf(dir) && (await fingerprintOf(holder.dir)))
        throw new ModelError(`${dir}: model name "${name}" is already served from ${holder.dir}`);
      const thread = this.options.inferenceThread;
      if (thread?.alive)
        await predictor
          .useThread(thread, `${name}@${loaded.metadata.version}#${++this.copies}`)
          .catch((e: Error) => {
            log.warn(
              { dir, err: e.message },
              'model not copied to the inference thread; it runs on the main thread',
            );
          });
    } catch (err) {
      if (predictor) predictor.close();
      else loaded?.model.dispose();
      const error = err instanceof Error ? err.message : String(err);
      this.rejected.set(dir, fingerprint);
      log.error(
        { dir, err: error, keeps: current ? `${current.name}@${current.version}` : null },
        'model rejected',
      );
      this.options.onEvent?.({ kind: 'rejected', dir, error });
      return;
    }
    this.rejected.delete(dir);
    const model: ServedModel = {
      name: loaded.metadata.name,
      version: loaded.metadata.version,
      metadata: loaded.metadata,
      dir,
      predictor,
      loadedAt: new Date(),
      fingerprint,
    };
    const replaced = this.byName.get(model.name);
    // One synchronous map write: a request sees either the old model or the new one.
    this.byName.set(model.name, model);
    if (current && current.name !== model.name) this.byName.delete(current.name);
    log.info(
      {
        model: model.name,
        version: model.version,
        dir,
        replaced: replaced?.version ?? null,
        inferenceThread: model.predictor.offloaded,
      },
      replaced ? 'model swapped in' : 'model loaded',
    );
    this.options.onEvent?.({ kind: 'loaded', model, replaced });
    // Requests already holding the old predictor finished synchronously or sit in its queue: close()
    // answers the queue before disposing the weights.
    if (replaced && replaced !== model) replaced.predictor.close();
    if (current && current !== replaced && current.name !== model.name) current.predictor.close();
  }

  private onChange = (): void => {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      void this.rescan();
    }, this.options.debounceMs ?? 200);
  };

  /** Follows the folder for added, replaced and removed model directories. */
  watch(): void {
    if (this.watcher || this.closed) return;
    this.watcher = watch(this.dir, this.onChange);
    this.watcher.on('error', (err) => {
      this.options.log.error({ dir: this.dir, err: err.message }, 'watching the models folder failed');
    });
    // Stores found by the first scan (before watching started).
    for (const dir of this.storeWatchers.keys()) this.watchStore(dir, true);
  }

  /** Watches a store's folder for `current` switches (once watch() was called). */
  private watchStore(dir: string, force = false): void {
    let ino: number;
    try {
      ino = statSync(dir).ino;
    } catch {
      return;
    }
    const known = this.storeWatchers.get(dir);
    if (this.closed || (!force && known?.ino === ino && (known.watcher || !this.watcher))) return;
    known?.watcher?.close();
    if (!this.watcher) {
      this.storeWatchers.set(dir, { ino }); // remembered for watch()
      return;
    }
    try {
      const watcher = watch(dir, this.onChange);
      watcher.on('error', () => watcher.close()); // a removed store; a later scan watches it again
      this.storeWatchers.set(dir, { ino, watcher });
    } catch {
      this.storeWatchers.delete(dir);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.debounce);
    this.watcher?.close();
    this.watcher = undefined;
    for (const w of this.storeWatchers.values()) w.watcher?.close();
    this.storeWatchers.clear();
    await this.scanning;
    for (const m of this.byName.values()) m.predictor.close();
    this.byName.clear();
  }
}
