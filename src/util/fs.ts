import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

/** True when `path` is a directory (or a symlink to one); false when it is missing or a file. */
export function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Writes `data` to `path` and fsyncs it, so the bytes are on disk when the promise settles. */
export async function writeFileSynced(path: string, data: string | Uint8Array): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Fsyncs a directory, so renames and new entries in it survive a crash. */
export async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes a file so readers see the old or the new content, never half (temp file, fsync, rename). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFileSynced(tmp, data);
  await rename(tmp, path);
}

/**
 * Copies the regular files of `from` into a new directory `to` (fsynced), and the subfolders named in
 * `subdirs` recursively. Dot-files (locks, temp files) are never copied.
 */
export async function copyTreeSynced(
  from: string,
  to: string,
  subdirs: (name: string) => boolean,
): Promise<void> {
  await mkdir(to);
  for (const e of await readdir(from, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    if (e.isFile()) await writeFileSynced(join(to, e.name), await readFile(join(from, e.name)));
    else if (e.isDirectory() && subdirs(e.name))
      await copyTreeSynced(join(from, e.name), join(to, e.name), () => true);
  }
  await fsyncDir(to);
}
