import { randomBytes } from 'node:crypto';
import { constants, existsSync, lstatSync, readlinkSync } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rename, rm, stat, symlink, unlink } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { METADATA_FILE, ModelError, readMetadata, verifyModelFiles } from '../model/io.js';
import type { ModelMetadata } from '../model/metadata.js';
import { fsyncDir, isDir, writeFileAtomic } from '../util/fs.js';

/**
 * The versioned model store. Layout of one model `models/<name>/`:
 *
 *   v0001/ v0002/ ...   immutable model directories (model.json, weights.bin, metadata.json, report,
 *                       and each part's subfolder of a fused model, e.g. strokes/)
 *   current -> v0002    relative symlink, switched atomically (rename of a temp symlink + dir fsync)
 *   history.json        the stack of versions that were current, for rollback, plus an event log
 *
 * A plain model directory (model.json + metadata.json directly inside, as `hwr train` writes it) is
 * served as is; the first promote adopts it, keeping its files as v0001.
 */
export const CURRENT_LINK = 'current';
export const HISTORY_FILE = 'history.json';
const VERSION_RE = /^v(\d{4,})$/;
const LOCK_FILE = '.lock';
const LOCK_STALE_MS = 10 * 60_000;

export type EntryKind = 'store' | 'plain';

export interface StoreEvent {
  readonly at: string;
  readonly action: 'adopt' | 'add' | 'promote' | 'rollback';
  readonly version: string;
  readonly from?: string | null;
  readonly note?: string;
}

export interface History {
  /** Versions that were made current, oldest first; the last one is current. */
  readonly stack: string[];
  readonly events: StoreEvent[];
}

export interface VersionInfo {
  readonly version: string;
  readonly dir: string;
  readonly metadata?: ModelMetadata;
  /** Why the metadata could not be read, if it could not. */
  readonly error?: string;
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
  try {
    const parsed = JSON.parse(await readFile(join(dir, HISTORY_FILE), 'utf8')) as Partial<History>;
    return { stack: [...(parsed.stack ?? [])], events: [...(parsed.events ?? [])] };
  } catch {
    const cur = currentVersion(dir);
    return { stack: cur ? [cur] : [], events: [] };
  }
}

async function writeHistory(dir: string, history: History): Promise<void> {
  await writeFileAtomic(join(dir, HISTORY_FILE), `${JSON.stringify(history, null, 2)}\n`);
}

/** Versions present in a store directory, ascending. */
export async function listVersions(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .filter((n) => parseVersion(n) !== undefined && isDir(join(dir, n)))
    .sort((a, b) => (parseVersion(a) as number) - (parseVersion(b) as number));
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
  } catch {
    throw new ModelError(`${dir} is not writable (read-only mount?); store changes need write access`);
  }
}

/** A cross-process lock on a store directory (O_EXCL lock file; stale after 10 minutes). */
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  await assertWritable(dir);
  const path = join(dir, LOCK_FILE);
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = Date.now() - (await stat(path).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (age > LOCK_STALE_MS) await rm(path, { force: true });
      else if (Date.now() > deadline)
        throw new ModelError(`${dir} is locked by another store operation (${path}); try again`);
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}

/** Copies a model directory: its files, and the subfolder of each part its metadata lists. */
async function copyModelDir(from: string, to: string): Promise<void> {
  await copyDirFiles(from, to);
  const parts = Object.values((await readMetadata(from)).parts ?? {});
  for (const part of parts) await copyDirFiles(join(from, part.dir), join(to, part.dir));
  if (parts.length) await fsyncDir(to);
}

async function copyDirFiles(from: string, to: string): Promise<void> {
  await mkdir(to);
  for (const e of await readdir(from, { withFileTypes: true })) {
    if (!e.isFile()) continue; // part subfolders are copied by copyModelDir; nothing else belongs to a model
    const data = await readFile(join(from, e.name));
    const fh = await open(join(to, e.name), 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
  await fsyncDir(to);
}

/** Rewrites metadata.json of a (not yet published) version dir with the store's version fields. */
async function stampMetadata(dir: string, version: string, parentVersion: string | undefined): Promise<void> {
  const meta = await readMetadata(dir);
  const extra = { ...meta.extra };
  if (meta.version !== version && extra.trainedVersion === undefined) extra.trainedVersion = meta.version;
  const stamped: ModelMetadata = { ...meta, version, parentVersion, extra };
  if (parentVersion === undefined) delete (stamped as { parentVersion?: string }).parentVersion;
  await writeFileAtomic(join(dir, METADATA_FILE), `${JSON.stringify(stamped, null, 2)}\n`);
}

export interface StoreOptions {
  /** The models folder (default ./models). */
  readonly root: string;
}

/** Operations on the stores of one models folder. Names are plain directory names, never paths. */
export class ModelStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  private dirOf(name: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
      throw new ModelError(`invalid model name "${name}" (letters, digits, . _ - only)`);
    return join(this.root, name);
  }

  /** Every model directory of the folder, store or plain. */
  async list(): Promise<StoreEntry[]> {
    const names = await readdir(this.root).catch(() => {
      throw new ModelError(`cannot read the models folder ${this.root}`);
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
    if (!isDir(dir)) throw new ModelError(`no model "${name}" in ${this.root}`);
    if (isStoreDir(dir)) {
      const versions: VersionInfo[] = [];
      for (const v of await listVersions(dir)) {
        const vdir = join(dir, v);
        try {
          versions.push({ version: v, dir: vdir, metadata: await readMetadata(vdir) });
        } catch (err) {
          versions.push({ version: v, dir: vdir, error: (err as Error).message });
        }
      }
      return {
        name,
        dir,
        kind: 'store',
        current: currentVersion(dir),
        versions,
        history: await readHistory(dir),
      };
    }
    if (!existsSync(join(dir, METADATA_FILE))) throw new ModelError(`${dir} is neither a model nor a store`);
    const metadata = await readMetadata(dir);
    return {
      name,
      dir,
      kind: 'plain',
      current: metadata.version,
      versions: [{ version: metadata.version, dir, metadata }],
      history: { stack: [], events: [] },
    };
  }

  /**
   * Turns a plain model directory into a store whose v0001 holds its files, atomically: the store is
   * built in a sibling temp directory, then swapped in by two renames (the registry tolerates the
   * instant in between). No-op for a store.
   */
  async adopt(name: string): Promise<StoreEntry> {
    const dir = this.dirOf(name);
    if (isStoreDir(dir)) return this.inspect(name);
    if (!existsSync(join(dir, METADATA_FILE)))
      throw new ModelError(`no model directory ${dir} to adopt (expected ${METADATA_FILE} inside)`);
    await assertWritable(this.root);
    await assertWritable(dir);
    const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const tmp = join(this.root, `.${name}.store-${tag}`);
    await mkdir(tmp);
    try {
      const v1 = formatVersion(1);
      await copyModelDir(dir, join(tmp, v1));
      await stampMetadata(join(tmp, v1), v1, undefined);
      await writeHistory(tmp, {
        stack: [v1],
        events: [{ at: new Date().toISOString(), action: 'adopt', version: v1, note: `from ${dir}` }],
      });
      await switchCurrent(tmp, v1);
      const old = join(this.root, `.${name}.old-${tag}`);
      await rename(dir, old);
      await rename(tmp, dir);
      await fsyncDir(this.root);
      await rm(old, { recursive: true, force: true });
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    return this.inspect(name);
  }

  /**
   * Copies a model directory into the store as the next version (not current yet). Its metadata gets
   * `version` = the new version and `parentVersion` (default: the current version).
   */
  async add(name: string, modelDir: string, options: { parentVersion?: string; note?: string } = {}) {
    // A clear error before anything is written: metadata, and every network's weights (the CNN's and
    // each part's) against the sizes and hashes it records.
    await verifyModelFiles(modelDir);
    const dir = this.dirOf(name);
    const fresh = !existsSync(dir);
    if (fresh) await mkdir(dir, { recursive: true });
    else if (!isStoreDir(dir)) await this.adopt(name);
    return withLock(dir, async () => {
      const versions = await listVersions(dir);
      const last = versions.length ? (parseVersion(versions[versions.length - 1]) as number) : 0;
      const version = formatVersion(last + 1);
      const parent = options.parentVersion ?? currentVersion(dir) ?? undefined;
      const tmp = join(dir, `.${version}.tmp-${randomBytes(4).toString('hex')}`);
      try {
        await copyModelDir(resolve(modelDir), tmp);
        await stampMetadata(tmp, version, parent);
        await rename(tmp, join(dir, version));
        await fsyncDir(dir);
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
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

  /** Makes `version` current (adopting a plain directory first). */
  async promote(name: string, version: string, note?: string): Promise<StoreEntry> {
    const dir = this.dirOf(name);
    if (!isStoreDir(dir)) await this.adopt(name);
    if (parseVersion(version) === undefined)
      throw new ModelError(`invalid version "${version}" (expected v0001, v0002, ...)`);
    await withLock(dir, async () => {
      if (!isDir(join(dir, version))) {
        const known = await listVersions(dir);
        throw new ModelError(`model "${name}" has no version ${version} (versions: ${known.join(', ')})`);
      }
      await readMetadata(join(dir, version)); // never point `current` at a broken directory
      const from = currentVersion(dir);
      const history = await readHistory(dir);
      if (from === version) return;
      // History first: a crash between the two leaves a stack one ahead, which rollback tolerates.
      history.stack.push(version);
      history.events.push({ at: new Date().toISOString(), action: 'promote', version, from, note });
      await writeHistory(dir, history);
      await switchCurrent(dir, version);
    });
    return this.inspect(name);
  }

  /** Switches `current` back to the version that was current before it. */
  async rollback(name: string, note?: string): Promise<StoreEntry> {
    const dir = this.dirOf(name);
    if (!isStoreDir(dir))
      throw new ModelError(`model "${name}" is a plain directory with one version; nothing to roll back to`);
    await withLock(dir, async () => {
      const from = currentVersion(dir);
      const history = await readHistory(dir);
      // Drop the current version (and anything unreadable) from the top of the stack.
      while (history.stack.length && history.stack[history.stack.length - 1] === from) history.stack.pop();
      let target: string | undefined;
      while (history.stack.length) {
        const candidate = history.stack[history.stack.length - 1];
        if (isDir(join(dir, candidate))) {
          target = candidate;
          break;
        }
        history.stack.pop();
      }
      if (!target) throw new ModelError(`model "${name}" has no earlier version to roll back to`);
      history.events.push({ at: new Date().toISOString(), action: 'rollback', version: target, from, note });
      await writeHistory(dir, history);
      await switchCurrent(dir, target);
    });
    return this.inspect(name);
  }
}
