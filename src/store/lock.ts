import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { ModelError } from '../model/io.js';

/** A lock older than this is taken over even when its owner cannot be checked (another host). */
const LOCK_STALE_MS = 10 * 60_000;

export interface LockOptions {
  /** How long to wait for another holder (default 10 s). */
  readonly waitMs?: number;
  /** Told when a stale lock is taken over (default: a line on stderr). */
  readonly log?: (message: string) => void;
}

/** True when `pid` is a live process of this machine (EPERM: alive, owned by another user). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Why the lock at `path` (content "PID HOST") is stale, or undefined while its owner may still
 * hold it: the owner is a dead process of this host, or the file is older than LOCK_STALE_MS.
 */
async function staleReason(path: string): Promise<string | undefined> {
  const [text, info] = await Promise.all([
    readFile(path, 'utf8').catch(() => ''),
    stat(path).catch(() => undefined),
  ]);
  if (!info) return undefined; // released meanwhile: the next attempt creates it
  const [pidText, host] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  if (Number.isInteger(pid) && pid > 0 && (host === undefined || host === hostname()) && !pidAlive(pid))
    return `its owner, process ${pid}, is not running`;
  const age = Date.now() - info.mtimeMs;
  if (age > LOCK_STALE_MS) return `it is ${Math.round(age / 60_000)} minutes old`;
  return undefined;
}

/**
 * Runs `fn` holding a cross-process lock file at `path` (O_EXCL create, content "PID HOST"). A lock
 * whose owner died (kill -9, power loss) is taken over at once with a log line. The takeover renames
 * the stale file away first, so of two processes taking over the same lock only one removes it.
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const deadline = Date.now() + (options.waitMs ?? 10_000);
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(`${process.pid} ${hostname()}\n`);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const stale = await staleReason(path);
      if (stale) {
        const moved = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
        const renamed = await rename(path, moved).then(
          () => true,
          () => false,
        );
        // Re-checked after the rename: another process may have taken the lock over in between.
        if (renamed && (await staleReason(moved))) {
          await rm(moved, { force: true });
          log(`took over the stale lock ${path}: ${stale}`);
        } else if (renamed) await rename(moved, path).catch(() => rm(moved, { force: true }));
      } else if (Date.now() > deadline)
        throw new ModelError(`${path} is held by another store operation; try again`);
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}
