import { randomBytes } from 'node:crypto';
import { constants, existsSync, lstatSync, readlinkSync } from 'node:fs';
import { access, mkdir, readdir, rename, rm, rmdir, symlink, unlink } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { initBackend } from '../engine/backend.js';
import { METADATA_FILE, ModelError, readMetadata } from '../model/io.js';
import type { ModelMetadata } from '../model/metadata.js';
import { verifyModelDir, weightsRecord } from '../model/verify.js';
import type { ErrorCode } from '../util/errors.js';
import { copyTreeSynced, fsyncDir, isDir, writeFileAtomic } from '../util/fs.js';
import {
  type BadVersion,
  type History,
  markBad,
  readHistory as readHistoryOf,
  writeHistory,
} from './history.js';
import { withLock } from './lock.js';

export { HISTORY_FILE, type History, type StoreEvent } from './history.js';

/**
 * The versioned model store. Layout of one model `models/<name>/`:
 *
 *   v0001/ v0002/ ...   immutable model directories (model.json, weights.bin, metadata.json, report,
 *                       and the subfolders of the parts listed in metadata.json)
 *   current -> v0002    relative symlink, switched atomically (rename of a temp symlink + dir fsync)
 *   history.json        the stack of versions that were current, for rollback, an event log, and the
 *                       versions marked bad (failed verification; never made current)
 *
 * A plain model directory (model.json + metadata.json directly inside, as `hwr train` writes it) is
 * served as is; the first promote adopts it, keeping its files as v0001. Every change holds the lock
 * file `models/.<name>.lock`; `current` only ever moves to a version that passed verifyModelDir.
 */
export const CURRENT_LINK = 'current';
const VERSION_RE = /^v(\d{4,})$/;

export type EntryKind = 'store' | 'plain';

/** Why a store operation was refused; callers (the admin API) map the code to a status. */
export type StoreErrorCode =
  | 'invalid'
  | 'not-found'
  | 'unknown-version'
  | 'bad-version'
  | 'no-rollback-target'
  | 'current-moved'
  | 'not-writable';

/** The HwrError code of each store refusal (its HTTP status comes from serve/http-error.ts). */
const STORE_ERROR_CODE: Readonly<Record<StoreErrorCode, ErrorCode>> = {
  invalid: 'invalid_input',
  'not-found': 'not_found',
  'unknown-version': 'conflict',
  'bad-version': 'conflict',
  'no-rollback-target': 'conflict',
  'current-moved': 'conflict',
  'not-writable': 'unavailable',
};

/** A refused store operation: `reason` says which refusal, `code` the kind of failure. */
export class StoreError extends ModelError {
  constructor(
    readonly reason: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, { code: STORE_ERROR_CODE[reason], cause: options?.cause });
  }
}

export interface VersionInfo {
  readonly version: string;
  readonly dir: string;
  readonly metadata?: ModelMetadata;
  /** Why the metadata could not be read, if it could not. */
  readonly error?: string;
  /** Set when the version failed verification: it can never become current. */
  readonly bad?: BadVersion;
}

export interface StoreEntry {
  readonly name: string;
  readonly dir: string;
  readonly kind: EntryKind;
  /** Current version (store) or the metadata version (plain dir). */
  readonly current: string | null;
  readonly versions: VersionInfo[];
  readonly history: History;
}

export function formatVersion(n: number): string {
  return `v${String(n).padStart(4, '0')}`;
}

export function parseVersion(v: string): number | undefined {
  const m = VERSION_RE.exec(v);
  return m ? Number(m[1]) : undefined;
}

/** True when `dir` is a store (has a `current` symlink). */
export function isStoreDir(dir: string): boolean {
  try {
    if (lstatSync(join(dir, CURRENT_LINK)).isSymbolicLink()) return true;
  } catch {
    // no pointer yet
  }
  return false;
}

/**
 * The directory a server should load for the entry `dir` of a models folder: `dir/current` for a
 * store, `dir` itself for a plain model directory. Synchronous and cheap (two lstat calls).
 */
export function servedDir(dir: string): string {
  return isStoreDir(dir) ? join(dir, CURRENT_LINK) : dir;
}

/** The version `current` points at, or null when there is no pointer. */
export function currentVersion(dir: string): string | null {
  try {
    return basename(readlinkSync(join(dir, CURRENT_LINK)));
  } catch {
    return null;
  }
}

export async function readHistory(dir: string): Promise<History> {
  return readHistoryOf(dir, currentVersion(dir));
}

/** Versions present in a store directory, ascending. */
export async function listVersions(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .filter((n) => parseVersion(n) !== undefined && isDir(join(dir, n)))
    .sort((a, b) => (parseVersion(a) as number) - (parseVersion(b) as number));
}

/**
 * What to serve when `current` of the store `dir` cannot be loaded: its other versions, newest
 * first, without those marked bad. The serving registry and `hwr models list` use the same order.
 */
export async function fallbackVersions(dir: string): Promise<string[]> {
  const current = currentVersion(dir);
  const { bad } = await readHistory(dir);
  return (await listVersions(dir)).filter((v) => v !== current && !bad[v]).reverse();
}

/**
 * Verifies a version directory as serving does (src/model/verify.ts: weights size and sha256, shapes,
 * parts, a trial forward pass). Returns why it failed, or undefined when it can be served.
 */
export async function verifyVersion(vdir: string): Promise<string | undefined> {
  await initBackend();
  try {
    await verifyModelDir(vdir);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Points `current` at `version` atomically: a temp symlink renamed over the old one (rename(2)
 * replaces the link in one step, so a reader resolves either the old target or the new one), then
 * the directory is fsynced so the switch survives a crash.
 */
async function switchCurrent(dir: string, version: string): Promise<void> {
  const tmp = join(dir, `.${CURRENT_LINK}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await symlink(version, tmp); // relative: the store stays valid when its folder is moved or mounted
  try {
    await rename(tmp, join(dir, CURRENT_LINK));
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fsyncDir(dir);
}

/** A clear error instead of EROFS/EACCES halfway through (e.g. a server with a read-only models mount). */
async function assertWritable(dir: string): Promise<void> {
  try {
    await access(dir, constants.W_OK);
  } catch (err) {
    throw new StoreError(
      'not-writable',
      `${dir} is not writable (read-only mount?); store changes need write access`,
      {
        cause: err,
      },
    );
  }
}

/** Copies a model directory: its files and the subfolders of the parts its metadata lists. */
async function copyModel(from: string, to: string, meta: ModelMetadata): Promise<void> {
  const partDirs = new Set(Object.values(meta.parts ?? {}).map((p) => p.dir));
  await copyTreeSynced(from, to, (name) => partDirs.has(name));
}

/**
 * Rewrites metadata.json of a (not yet published) version dir with the store's version fields, and
 * records the weights' size and sha256 (of every part too) where the metadata lacks them.
 */
async function stampMetadata(dir: string, version: string, parentVersion: string | undefined): Promise<void> {
  const meta = await readMetadata(dir);
  const extra = { ...meta.extra };
  if (meta.version !== version && extra.trainedVersion === undefined) extra.trainedVersion = meta.version;
  const parts = meta.parts ? { ...meta.parts } : undefined;
  for (const [key, part] of Object.entries(parts ?? {}))
    if (!part.weights)
      (parts as NonNullable<typeof parts>)[key] = {
        ...part,
        weights: await weightsRecord(join(dir, part.dir)),
      };
  const weights = meta.weights ?? (await weightsRecord(dir));
  const stamped: ModelMetadata = {
    ...meta,
    version,
    parentVersion,
    extra,
    weights,
    ...(parts ? { parts } : {}),
  };
  if (parentVersion === undefined) delete (stamped as { parentVersion?: string }).parentVersion;
  await writeFileAtomic(join(dir, METADATA_FILE), `${JSON.stringify(stamped, null, 2)}\n`);
}

export interface PromoteOptions {
  readonly note?: string;
  /**
   * The version the caller compared the candidate with (a retrain's base). When `current` moved
   * since, the promote is refused ('current-moved'): the candidate was never gated against it.
   */
  readonly expectCurrent?: string | null;
}

/** Operations on the stores of one models folder. Names are plain directory names, never paths. */
export class ModelStore {
  readonly root: string;

  constructor(
    root: string,
    private readonly log: (message: string) => void = (m) => process.stderr.write(`${m}\n`),
  ) {
    this.root = resolve(root);
  }

  private dirOf(name: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
      throw new StoreError('invalid', `invalid model name "${name}" (letters, digits, . _ - only)`);
    return join(this.root, name);
  }

  /** Runs `fn` holding the lock of model `name` (a file in the models folder, so adoption is covered). */
  private async locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    await assertWritable(this.root);
    return withLock(join(this.root, `.${name}.lock`), fn, { log: this.log });
  }

  /** Every model directory of the folder, store or plain. */
  async list(): Promise<StoreEntry[]> {
    const names = await readdir(this.root).catch(() => {
      throw new StoreError('not-found', `cannot read the models folder ${this.root}`);
    });
    const out: StoreEntry[] = [];
    for (const name of names.sort()) {
      if (name.startsWith('.') || !isDir(join(this.root, name))) continue;
      const entry = await this.inspect(name).catch(() => undefined);
      if (entry) out.push(entry);
    }
    return out;
  }

  async inspect(name: string): Promise<StoreEntry> {
    const dir = this.dirOf(name);
    if (!isDir(dir)) throw new StoreError('not-found', `no model "${name}" in ${this.root}`);
    if (isStoreDir(dir)) {
      const history = await readHistory(dir);
      const versions: VersionInfo[] = [];
      for (const v of await listVersions(dir)) {
        const vdir = join(dir, v);
        const bad = history.bad[v];
        try {
          versions.push({ version: v, dir: vdir, metadata: await readMetadata(vdir), bad });
        } catch (err) {
          versions.push({ version: v, dir: vdir, error: (err as Error).message, bad });
        }
      }
      return { name, dir, kind: 'store', current: currentVersion(dir), versions, history };
    }
    if (!existsSync(join(dir, METADATA_FILE)))
      throw new StoreError('not-found', `${dir} is neither a model nor a store`);
    const metadata = await readMetadata(dir);
    return {
      name,
      dir,
      kind: 'plain',
      current: metadata.version,
      versions: [{ version: metadata.version, dir, metadata }],
      history: { stack: [], events: [], bad: {} },
    };
  }

  /**
   * What a server starting now would serve for `entry`, after verifying it completely: `current`
   * when it passes, else the newest good version (a plain directory: itself or nothing).
   */
  async served(entry: StoreEntry): Promise<{ version: string | null; currentError?: string }> {
    if (entry.kind === 'plain') {
      const error = await verifyVersion(entry.dir);
      return error ? { version: null, currentError: error } : { version: entry.current };
    }
    const current = entry.current;
    let currentError: string | undefined;
    if (current) {
      currentError = entry.history.bad[current]?.reason ?? (await verifyVersion(join(entry.dir, current)));
      if (!currentError) return { version: current };
    }
    for (const v of await fallbackVersions(entry.dir))
      if (!(await verifyVersion(join(entry.dir, v)))) return { version: v, currentError };
    return { version: null, currentError };
  }

  /**
   * Turns a plain model directory into a store whose first free version holds its files, atomically:
   * the store is built in a sibling temp directory, then swapped in by two renames (the registry
   * tolerates the instant in between). Version folders already inside (v0002/ copied in by hand) stay
   * versions beside it, never nested. No-op for a store.
   */
  async adopt(name: string): Promise<StoreEntry> {
    await this.locked(name, () => this.adoptLocked(name));
    return this.inspect(name);
  }

  private async adoptLocked(name: string): Promise<void> {
    const dir = this.dirOf(name);
    if (isStoreDir(dir)) return;
    if (!existsSync(join(dir, METADATA_FILE)))
      throw new StoreError(
        'not-found',
        `no model directory ${dir} to adopt (expected ${METADATA_FILE} inside)`,
      );
    await assertWritable(dir);
    const meta = await readMetadata(dir);
    const inside = await listVersions(dir);
    const last = inside.length ? (parseVersion(inside[inside.length - 1]) as number) : 0;
    const own = inside.includes(formatVersion(1)) ? formatVersion(last + 1) : formatVersion(1);
    const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const tmp = join(this.root, `.${name}.store-${tag}`);
    await mkdir(tmp);
    try {
      await copyModel(dir, join(tmp, own), meta);
      await stampMetadata(join(tmp, own), own, undefined);
      for (const v of inside) await copyTreeSynced(join(dir, v), join(tmp, v), () => true);
      const at = new Date().toISOString();
      await writeHistory(tmp, {
        stack: [own],
        events: [{ at, action: 'adopt', version: own, note: `from ${dir}` }],
        bad: {},
      });
      await switchCurrent(tmp, own);
      const old = join(this.root, `.${name}.old-${tag}`);
      await rename(dir, old);
      await rename(tmp, dir);
      await fsyncDir(this.root);
      await rm(old, { recursive: true, force: true });
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Copies a model directory into the store as the next version (not current yet), after verifying
   * the copy as serving would: a model that fails is not added. Its metadata gets `version` = the new
   * version, `parentVersion` (default: the current version) and the weights' size and sha256.
   */
  async add(name: string, modelDir: string, options: { parentVersion?: string; note?: string } = {}) {
    const meta = await readMetadata(modelDir); // a clear error before anything is written
    const dir = this.dirOf(name);
    return this.locked(name, async () => {
      const fresh = !existsSync(dir);
      if (fresh) await mkdir(dir, { recursive: true });
      else if (!isStoreDir(dir)) await this.adoptLocked(name);
      const versions = await listVersions(dir);
      const last = versions.length ? (parseVersion(versions[versions.length - 1]) as number) : 0;
      const version = formatVersion(last + 1);
      const parent = options.parentVersion ?? currentVersion(dir) ?? undefined;
      const tmp = join(dir, `.${version}.tmp-${randomBytes(4).toString('hex')}`);
      try {
        await copyModel(resolve(modelDir), tmp, meta);
        await stampMetadata(tmp, version, parent);
        const error = await verifyVersion(tmp);
        if (error)
          throw new StoreError('bad-version', `${modelDir} failed verification, nothing added: ${error}`);
        await rename(tmp, join(dir, version));
        await fsyncDir(dir);
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        if (fresh) await rmdir(dir).catch(() => {});
        throw err;
      }
      const history = await readHistory(dir);
      history.events.push({ at: new Date().toISOString(), action: 'add', version, from: parent ?? null });
      // A new store serves its first version at once: there is nothing else to serve.
      if (fresh && !currentVersion(dir)) history.stack.push(version);
      await writeHistory(dir, history);
      if (fresh && !currentVersion(dir)) await switchCurrent(dir, version);
      return { version, dir: join(dir, version) };
    });
  }

  /** Makes `version` current (adopting a plain directory first) once it passed verification. */
  async promote(name: string, version: string, options: PromoteOptions | string = {}): Promise<StoreEntry> {
    const { note, expectCurrent } =
      typeof options === 'string' ? { note: options, expectCurrent: undefined } : options;
    const dir = this.dirOf(name);
    if (parseVersion(version) === undefined)
      throw new StoreError('invalid', `invalid version "${version}" (expected v0001, v0002, ...)`);
    await this.locked(name, async () => {
      if (!isStoreDir(dir)) await this.adoptLocked(name);
      if (!isDir(join(dir, version))) {
        const known = await listVersions(dir);
        throw new StoreError(
          'unknown-version',
          `model "${name}" has no version ${version} (versions: ${known.join(', ')})`,
        );
      }
      const from = currentVersion(dir);
      if (expectCurrent !== undefined && from !== expectCurrent)
        throw new StoreError(
          'current-moved',
          `model "${name}": current is ${from ?? 'none'}, not ${expectCurrent ?? 'none'} as when the candidate was measured; not promoted (compare it with ${from} first)`,
        );
      if (from === version) return;
      const history = await readHistory(dir);
      await this.assertServable(dir, name, version, history, note);
      // History first: a crash between the two leaves a stack one ahead, which rollback tolerates.
      history.stack.push(version);
      history.events.push({ at: new Date().toISOString(), action: 'promote', version, from, note });
      await writeHistory(dir, history);
      await switchCurrent(dir, version);
    });
    return this.inspect(name);
  }

  /** Throws unless `version` passes verification; a failure is marked bad in `history` (written). */
  private async assertServable(dir: string, name: string, version: string, history: History, note?: string) {
    const known = history.bad[version];
    if (known)
      throw new StoreError(
        'bad-version',
        `model "${name}" ${version} is marked bad since ${known.at} (${known.reason}); it cannot become current`,
      );
    const error = await verifyVersion(join(dir, version));
    if (!error) return;
    markBad(history, version, error, note);
    await writeHistory(dir, history);
    throw new StoreError(
      'bad-version',
      `model "${name}" ${version} failed verification and is marked bad: ${error}`,
    );
  }

  /**
   * Switches `current` back to the version that was current before it, skipping versions that fail
   * verification (they are marked bad) or no longer exist.
   */
  async rollback(name: string, note?: string): Promise<StoreEntry> {
    const dir = this.dirOf(name);
    if (!isStoreDir(dir))
      throw new StoreError(
        'no-rollback-target',
        `model "${name}" is a plain directory with one version; nothing to roll back to`,
      );
    await this.locked(name, async () => {
      const from = currentVersion(dir);
      const history = await readHistory(dir);
      // Drop the current version from the top of the stack.
      while (history.stack.length && history.stack[history.stack.length - 1] === from) history.stack.pop();
      let target: string | undefined;
      const skipped: string[] = [];
      while (history.stack.length) {
        const candidate = history.stack[history.stack.length - 1];
        if (isDir(join(dir, candidate))) {
          const error = history.bad[candidate]?.reason ?? (await verifyVersion(join(dir, candidate)));
          if (!error) {
            target = candidate;
            break;
          }
          if (!history.bad[candidate]) markBad(history, candidate, error, note);
          skipped.push(`${candidate} (${error})`);
        }
        history.stack.pop();
      }
      if (!target) {
        if (skipped.length) await writeHistory(dir, { ...history, stack: (await readHistory(dir)).stack });
        throw new StoreError(
          'no-rollback-target',
          `model "${name}" has no earlier version to roll back to${skipped.length ? `; skipped bad ${skipped.join(', ')}` : ''}`,
        );
      }
      history.events.push({ at: new Date().toISOString(), action: 'rollback', version: target, from, note });
      await writeHistory(dir, history);
      await switchCurrent(dir, target);
    });
    return this.inspect(name);
  }
}
