import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** Debian's PostgreSQL 15 (apt-get install postgresql-15). */
export const PG_BIN = process.env.HWR_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface TestPostgres {
  readonly url: string;
  readonly dir: string;
  /** Stops the server ('immediate': like a crash of the database host) and deletes its folder. */
  stop(): Promise<void>;
}

/** Why a PostgreSQL test server cannot be started here, or undefined when it can. */
export function postgresUnavailable(): string | undefined {
  if (!existsSync(join(PG_BIN, 'initdb')) || !existsSync(join(PG_BIN, 'pg_ctl')))
    return `no PostgreSQL binaries in ${PG_BIN} (apt-get install postgresql-15, or set HWR_PG_BIN)`;
  if (process.getuid?.() === 0 && !existsSync('/usr/sbin/runuser'))
    return 'running as root without runuser: PostgreSQL refuses to run as root';
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** As the `postgres` user when this process is root (PostgreSQL refuses root), else as is. */
async function pgCommand(cmd: string, args: string[]): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  const [file, argv] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', join(PG_BIN, cmd), ...args]]
    : [join(PG_BIN, cmd), args];
  await run(file, argv, { timeout: 60_000 });
}

/**
 * A throwaway PostgreSQL server for tests: initdb in a temporary folder, trust authentication on
 * 127.0.0.1 at a free port, started with pg_ctl. fsync is off for speed: the tests kill hwr processes,
 * never the database host, and a committed row survives those whatever fsync says.
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'hwr-pg-'));
  await chmod(dir, 0o777); // the postgres user writes here when this process is root
  const data = join(dir, 'data');
  const port = await freePort();
  try {
    await pgCommand('initdb', ['-D', data, '-A', 'trust', '-U', 'hwr', '-E', 'UTF8', '--no-sync']);
    await pgCommand('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'server.log'),
      '-w',
      '-t',
      '30',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=100 -c fsync=off`,
      'start',
    ]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `postgresql://hwr@127.0.0.1:${port}/postgres`,
    dir,
    stop: async () => {
      await pgCommand('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
