import { type FSWatcher, readdirSync, statSync, watch } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { PIXELS } from '../model/infer.js';
import { disposeLoaded, type LoadedModel, loadModel, METADATA_FILE, ModelError } from '../model/io.js';
import type { ModelMetadata } from '../model/metadata.js';
import { checkInputShape, checkProbabilities } from '../model/verify.js';
import { CURRENT_LINK, fallbackVersions, isStoreDir, servedDir } from '../store/store.js';
import type { InferenceThread } from './inference-thread.js';
import { type Answer, type BatchingOptions, NO_BATCHING, Predictor } from './predictor.js';

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
  /** The entry of the models folder it comes from (a store or a plain model directory). */
  readonly entryDir: string;
  readonly predictor: Predictor;
  readonly loadedAt: Date;
  /**
   * Identity of the directory contents it was loaded from (fingerprintOf). The parts live in the same
   * directory and are loaded with it, so a swap replaces the CNN and every part at once.
   */
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
   * The directory to serve for an entry of the folder (default: a store's `current` link, else the
   * entry itself). A cluster passes the version its shared database names (src/store/catalog.ts).
   */
  readonly resolve?: (entryDir: string) => Promise<string>;
  /** Checked before a directory is loaded (a cluster compares file hashes with the record). */
  readonly verify?: (dir: string) => Promise<void>;
}

/** Files whose change can change what a model directory serves (the rest: reports, charts). */
function isModelFile(name: string): boolean {
  return name === METADATA_FILE || name === 'model.json' || name.endsWith('.bin');
}

/** Appends "path:inode:size:mtime" of the model files in `dir` and (depth 0) its subfolders (parts). */
async function collectFiles(dir: string, rel: string, out: string[], depth: number): Promise<void> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    if (e.isDirectory() && depth === 0) await collectFiles(path, `${rel}${e.name}/`, out, depth + 1);
    else if (e.isFile() && isModelFile(e.name)) {
      const s = await stat(path);
      out.push(`${rel}${e.name}:${s.ino}:${s.size}:${s.mtimeMs}`);
    }
  }
}

/**
 * Identity of a model directory's contents: its inode and every model file's inode, size and mtime,
 * parts' subfolders included. Any write (a weights file still being copied in) changes it, so a
 * rejected model is tried again once its files change.
 */
async function fingerprintOf(dir: string): Promise<string | undefined> {
  try {
    const [d] = await Promise.all([stat(dir), stat(join(dir, METADATA_FILE))]);
    const files: string[] = [String(d.ino)];
    await collectFiles(dir, '', files, 0);
    return files.join('|');
  } catch {
    return undefined; // not a model directory (or vanished meanwhile)
  }
}

/** A drawn "7" (two strokes): the warm-up input of stroke parts. */
const WARM_UP_STROKES: [number, number][][] = [
  [
    [10, 10],
    [60, 10],
    [30, 90],
  ],
  [
    [20, 50],
    [50, 50],
  ],
];

/**
 * Checks a freshly loaded model as the store does before a promote (src/model/verify.ts), and each
 * part on the features of a real drawing (so a part whose inputs do not match its feature spec is
 * refused).
 */
function validate(loaded: LoadedModel, predictor: Predictor): void {
  checkInputShape(loaded.model, loaded.dir);
  // Warm-up: the first pass compiles kernels and allocates; doing it here keeps it off a request.
  checkProbabilities(predictor.predictNow(new Uint8Array(PIXELS), 1), loaded.dir);
  if (loaded.parts.length === 0) return;
  let answer: Answer;
  try {
    [answer] = predictor.answerNow([{ pixels: new Uint8Array(PIXELS), strokes: WARM_UP_STROKES }]);
  } catch (err) {
    throw new ModelError(`${loaded.dir}: a part cannot read its stroke features: ${(err as Error).message}`);
  }
  for (const part of loaded.parts) {
    const probs = answer.parts?.[part.name];
    if (!probs) throw new ModelError(`${loaded.dir}: part "${part.name}" gave no answer`);
    checkProbabilities(probs, `${loaded.dir}/${part.spec.dir}`);
  }
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
  /**
   * Folders watched besides the models folder, by path: stores (a `current` switch is not an event
   * of the models folder), plain model directories and their subfolders (files written into them),
   * each with the inode it watches (adoption or a replacement makes a new one).
   */
  private readonly dirWatchers = new Map<string, { ino: number; watcher?: FSWatcher }>();
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
      this.watchEntries(entries);
    } catch (err) {
      log.error({ dir: this.dir, err: (err as Error).message }, 'cannot read the models folder');
      return;
    }
    const seen = new Set<string>();
    for (const entry of entries) {
      if (this.closed) return;
      const dir = await this.servedDirOf(entry);
      if (dir === undefined) {
        for (const m of this.list()) if (m.entryDir === entry) seen.add(m.dir); // keeps serving it
        continue;
      }
      const fingerprint = await fingerprintOf(dir);
      const servesEntry = () => this.list().some((m) => m.entryDir === entry);
      if (!fingerprint) {
        // `current` names a version that is gone: the store's other versions may still serve.
        if (dir !== entry && !servesEntry()) {
          const served = await this.fallback(entry, `${dir} has no readable ${METADATA_FILE}`);
          if (served) seen.add(served);
        }
        continue;
      }
      seen.add(dir);
      const current = this.list().find((m) => m.dir === dir);
      for (const m of this.list()) if (m.entryDir === entry) seen.add(m.dir); // a fallback version
      if (current?.fingerprint === fingerprint || this.rejected.get(dir) === fingerprint) continue;
      const error = await this.load(dir, entry, fingerprint, current);
      if (error && dir !== entry && !servesEntry()) {
        const served = await this.fallback(entry, error);
        if (served) seen.add(served);
      }
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

  /** The directory to serve for an entry; undefined when the shared database cannot say (logged). */
  private async servedDirOf(entry: string): Promise<string | undefined> {
    const { resolve: resolveDir } = this.options;
    if (!resolveDir) return servedDir(entry);
    try {
      return await resolveDir(entry);
    } catch (err) {
      this.options.log.error(
        { dir: entry, err: (err as Error).message },
        'cannot read the current version from the database; serving what was loaded',
      );
      return undefined;
    }
  }

  /**
   * A store whose `current` cannot be served while nothing else of it is (a start-up after a bad
   * version was made current by hand): serves its newest version that loads, with a loud log line.
   * The pointer is left alone (the models folder may be read-only); `hwr models` fixes it.
   */
  private async fallback(entry: string, error: string): Promise<string | undefined> {
    const { log } = this.options;
    const broken = basename(await realpath(join(entry, CURRENT_LINK)).catch(() => CURRENT_LINK));
    for (const version of await fallbackVersions(entry)) {
      const dir = join(entry, version);
      const fingerprint = await fingerprintOf(dir);
      if (!fingerprint || this.rejected.get(dir) === fingerprint) continue;
      if (await this.load(dir, entry, fingerprint, undefined)) continue;
      log.error(
        { dir: entry, current: broken, serving: version, err: error },
        `CURRENT VERSION ${broken} OF ${entry} IS BROKEN: serving ${version}, the newest version that loads; run hwr models promote or rollback to fix the pointer`,
      );
      return dir;
    }
    log.error(
      { dir: entry, current: broken, err: error },
      `current version ${broken} of ${entry} is broken and no other version loads`,
    );
    return undefined;
  }

  /** Loads and swaps in a model directory; returns why it was rejected, or undefined once served. */
  private async load(
    dir: string,
    entryDir: string,
    fingerprint: string,
    current: ServedModel | undefined,
  ): Promise<string | undefined> {
    let ready: { loaded: LoadedModel; predictor: Predictor };
    try {
      ready = await this.prepare(dir, entryDir);
    } catch (err) {
      return this.reject(dir, fingerprint, current, err);
    }
    this.rejected.delete(dir);
    const { loaded, predictor } = ready;
    this.swapIn(
      {
        name: loaded.metadata.name,
        version: loaded.metadata.version,
        metadata: loaded.metadata,
        dir,
        entryDir,
        predictor,
        loadedAt: new Date(),
        fingerprint,
      },
      current,
    );
    return undefined;
  }

  /**
   * Verifies, loads and checks a model directory and builds its predictor (copied to the inference
   * thread when there is one); frees what it made before throwing.
   */
  private async prepare(
    dir: string,
    entryDir: string,
  ): Promise<{ loaded: LoadedModel; predictor: Predictor }> {
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
      // Another version of the same entry is replaced; another entry with the same name is refused.
      if (holder && holder.entryDir !== entryDir && (await fingerprintOf(holder.dir)))
        throw new ModelError(`${dir}: model name "${name}" is already served from ${holder.dir}`);
      const thread = this.options.inferenceThread;
      if (thread?.alive)
        await predictor
          .useThread(thread, `${name}@${loaded.metadata.version}#${++this.copies}`)
          .catch((e: Error) => {
            this.options.log.warn(
              { dir, err: e.message },
              'model not copied to the inference thread; it runs on the main thread',
            );
          });
      return { loaded, predictor };
    } catch (err) {
      if (predictor) predictor.close();
      else if (loaded) disposeLoaded(loaded);
      throw err;
    }
  }

  /** Remembers a rejected directory (not retried until it changes), logs and reports why. */
  private reject(dir: string, fingerprint: string, current: ServedModel | undefined, err: unknown): string {
    const error = err instanceof Error ? err.message : String(err);
    this.rejected.set(dir, fingerprint);
    this.options.log.error(
      { dir, err: error, keeps: current ? `${current.name}@${current.version}` : null },
      'model rejected',
    );
    this.options.onEvent?.({ kind: 'rejected', dir, error });
    return error;
  }

  /** Serves `model` in place of its name's holder (and of `current`, when renamed), then frees those. */
  private swapIn(model: ServedModel, current: ServedModel | undefined): void {
    const replaced = this.byName.get(model.name);
    // One synchronous map write: a request sees either the old model or the new one.
    this.byName.set(model.name, model);
    if (current && current.name !== model.name) this.byName.delete(current.name);
    this.options.log.info(
      {
        model: model.name,
        version: model.version,
        dir: model.dir,
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
    for (const dir of this.dirWatchers.keys()) this.watchDir(dir, true);
  }

  /**
   * Watches each entry of the models folder (a store, or a plain model directory and its part or
   * version subfolders), and stops watching folders that are gone.
   */
  private watchEntries(entries: readonly string[]): void {
    const wanted = new Set<string>();
    for (const entry of entries) {
      wanted.add(entry);
      if (isStoreDir(entry)) continue; // versions are immutable; the store folder sees the switch
      try {
        for (const e of readdirSync(entry, { withFileTypes: true }))
          if (e.isDirectory() && !e.name.startsWith('.')) wanted.add(join(entry, e.name));
      } catch {
        // vanished meanwhile
      }
    }
    for (const [dir, w] of this.dirWatchers)
      if (!wanted.has(dir)) {
        w.watcher?.close();
        this.dirWatchers.delete(dir);
      }
    for (const dir of wanted) this.watchDir(dir);
  }

  /** Watches one folder for changes (once watch() was called; remembered until then). */
  private watchDir(dir: string, force = false): void {
    let ino: number;
    try {
      ino = statSync(dir).ino;
    } catch {
      return;
    }
    const known = this.dirWatchers.get(dir);
    if (this.closed || (!force && known?.ino === ino && (known.watcher || !this.watcher))) return;
    known?.watcher?.close();
    if (!this.watcher) {
      this.dirWatchers.set(dir, { ino }); // remembered for watch()
      return;
    }
    try {
      const watcher = watch(dir, this.onChange);
      watcher.on('error', () => watcher.close()); // a removed store; a later scan watches it again
      this.dirWatchers.set(dir, { ino, watcher });
    } catch {
      this.dirWatchers.delete(dir);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.debounce);
    this.watcher?.close();
    this.watcher = undefined;
    for (const w of this.dirWatchers.values()) w.watcher?.close();
    this.dirWatchers.clear();
    await this.scanning;
    for (const m of this.byName.values()) m.predictor.close();
    this.byName.clear();
  }
}
