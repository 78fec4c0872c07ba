import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type CurrentChange, type HwrDatabase, RecordError } from './database.js';
import {
  currentVersion,
  isStoreDir,
  listVersions,
  type ModelStore,
  type PromoteOptions,
  parseVersion,
  StoreError,
  servedDir,
  verifyVersion,
} from './store.js';

/** sha256 (hex) of every file of a version directory (model dirs are flat), by file name. */
export async function hashVersionDir(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name)))
    if (e.isFile())
      files[e.name] = createHash('sha256')
        .update(await readFile(join(dir, e.name)))
        .digest('hex');
  return files;
}

/** The store entry (models/<name>) a served directory belongs to: its `current` link or a vNNNN. */
export function entryDirOf(dir: string): string {
  const parent = dirname(dir);
  const leaf = basename(dir);
  return (leaf === 'current' || parseVersion(leaf) !== undefined) && isStoreDir(parent) ? parent : dir;
}

export interface CatalogEntry {
  readonly name: string;
  readonly current: string | null;
  readonly versions: string[];
}

/**
 * The model store as a cluster sees it. The version directories stay files in the models folder
 * (shared by every replica); with a shared database (PostgreSQL) the `current` pointer, the history
 * and the file hashes live in the database, and a promote reaches every replica by NOTIFY. Without
 * one (SQLite, one host), the `current` symlink is the pointer, as src/store/store.ts keeps it.
 */
export class ModelCatalog {
  constructor(
    readonly files: ModelStore,
    private readonly db?: HwrDatabase,
  ) {}

  /** True when the database holds the pointer (PostgreSQL). */
  get shared(): boolean {
    return this.db?.kind === 'postgres';
  }

  /** Every model's current version in the shared database (empty without one). */
  async currents(): Promise<Map<string, string>> {
    return this.shared && this.db ? this.db.models.currents() : new Map();
  }

  /** The directory to serve or fine-tune for a store entry. */
  async servedDir(name: string): Promise<string> {
    const dir = join(this.files.root, name);
    const version = this.shared ? await this.db?.models.current(name) : null;
    return version ? join(dir, version) : servedDir(dir);
  }

  /** Records a version directory and its file hashes (once). */
  private async record(name: string, version: string, note?: string): Promise<void> {
    const db = this.db as HwrDatabase;
    if (await db.models.version(name, version)) return;
    await db.models.addVersion(
      name,
      version,
      await hashVersionDir(join(this.files.root, name, version)),
      note,
    );
  }

  /**
   * The first switch through the database starts from the version the folder serves, so that a
   * rollback can go back to it.
   */
  private async seed(name: string): Promise<void> {
    const db = this.db as HwrDatabase;
    if (await db.models.current(name)) return;
    const dir = join(this.files.root, name);
    const start = currentVersion(dir);
    if (!start) return;
    await this.record(name, start, 'served from the models folder');
    await db.models.promote(name, start, 'current of the models folder');
  }

  private async entry(name: string, current: string | null): Promise<CatalogEntry> {
    return { name, current, versions: await listVersions(join(this.files.root, name)) };
  }

  /** Adds a model directory as the next version (files), recording it in the shared database. */
  async add(name: string, modelDir: string, options: { parentVersion?: string; note?: string } = {}) {
    const added = await this.files.add(name, modelDir, options);
    if (this.shared) await this.record(name, added.version, options.note);
    return added;
  }

  /**
   * Makes `version` current. Shared database: the version is verified as serving does (weights
   * sha256, shapes, a trial forward pass: src/store/store.ts), its file hashes are recorded, and the
   * database's pointer moves; the `current` link in the folder is left alone (the replicas follow the
   * database, and the folder may be mounted read-only).
   */
  async promote(name: string, version: string, options: PromoteOptions | string = {}): Promise<CatalogEntry> {
    if (!this.shared) {
      const e = await this.files.promote(name, version, options);
      return this.entry(e.name, e.current);
    }
    const { note, expectCurrent } =
      typeof options === 'string' ? { note: options, expectCurrent: undefined } : options;
    if (parseVersion(version) === undefined)
      throw new StoreError('invalid', `invalid version "${version}" (expected v0001, v0002, ...)`);
    if (!isStoreDir(join(this.files.root, name))) await this.files.adopt(name);
    const known = await listVersions(join(this.files.root, name));
    if (!known.includes(version))
      throw new StoreError(
        'unknown-version',
        `model "${name}" has no version ${version} (versions: ${known.join(', ')})`,
      );
    await this.seed(name);
    const db = this.db as HwrDatabase;
    const from = await db.models.current(name);
    if (expectCurrent !== undefined && from !== expectCurrent)
      throw new StoreError(
        'current-moved',
        `model "${name}": current is ${from ?? 'none'}, not ${expectCurrent ?? 'none'} as when the candidate was measured; not promoted`,
      );
    const error = await verifyVersion(join(this.files.root, name, version));
    if (error)
      throw new StoreError('bad-version', `model "${name}" ${version} failed verification: ${error}`);
    await this.record(name, version);
    const change = await db.models.promote(name, version, note);
    return this.entry(name, change.version);
  }

  async rollback(name: string, note?: string): Promise<CatalogEntry> {
    if (!this.shared) {
      const e = await this.files.rollback(name, note);
      return this.entry(e.name, e.current);
    }
    await this.seed(name);
    let change: CurrentChange;
    try {
      change = await (this.db as HwrDatabase).models.rollback(name, note);
    } catch (err) {
      if (err instanceof RecordError) throw new StoreError('no-rollback-target', err.message, { cause: err });
      throw err;
    }
    return this.entry(name, change.version);
  }

  /**
   * Checks a version directory against its recorded hashes before a replica loads it: a file
   * changed, missing or half-copied on the shared folder is refused, and the replica keeps serving
   * what it had. Directories without a record (no shared database) pass.
   */
  async verify(dir: string): Promise<void> {
    if (!this.shared) return;
    const entry = entryDirOf(dir);
    if (entry === dir) return;
    const name = basename(entry);
    const version = basename(dir) === 'current' ? currentVersion(entry) : basename(dir);
    if (!version) return;
    const record = await (this.db as HwrDatabase).models.version(name, version);
    if (!record) return;
    const actual = await hashVersionDir(dir);
    for (const [file, sha] of Object.entries(record.files))
      if (actual[file] !== sha)
        throw new StoreError(
          'bad-version',
          `${dir}: ${file} ${actual[file] ? `has sha256 ${actual[file].slice(0, 12)}…` : 'is missing'}, the record says ${sha.slice(0, 12)}…`,
        );
  }
}
