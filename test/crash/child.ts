// Starts `hwr serve` from source in a child process and follows its JSON log lines.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('./hwr-entry.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface LogLine {
  readonly msg?: string;
  readonly [key: string]: unknown;
}

export interface ServeChild {
  readonly proc: ChildProcess;
  readonly url: string;
  /** Every JSON log line so far (stdout), and the raw stderr. */
  readonly lines: LogLine[];
  stderr(): string;
  /** Resolves with the first log line (past or future) that matches, within `ms`. */
  waitFor(match: (line: LogLine) => boolean, ms?: number): Promise<LogLine>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `hwr serve --port 0 <args>`; resolves once it logs its URL. HWR_THREADS=1: the machine is shared. */
export async function startServe(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<ServeChild> {
  const proc = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'serve', '--port', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env, HWR_THREADS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  let stderr = '';
  let pending = '';
  proc.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const text of parts) {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { msg: text };
      }
      lines.push(line);
      for (const w of waiters)
        if (w.match(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
    }
  });
  proc.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const waitFor = (match: (l: LogLine) => boolean, ms = 30_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const seen = lines.find(match);
      if (seen) return resolve(seen);
      const waiter = { match, resolve };
      waiters.add(waiter);
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no matching log line within ${ms} ms; stderr: ${stderr.slice(-2000)}`));
      }, ms);
      void exited.then(({ code, signal }) => {
        if (!waiters.has(waiter)) return;
        clearTimeout(timer);
        waiters.delete(waiter);
        reject(new Error(`hwr serve exited (${signal ?? code}) first; stderr: ${stderr.slice(-2000)}`));
      });
      const original = waiter.resolve;
      waiter.resolve = (l) => {
        clearTimeout(timer);
        original(l);
      };
    });
  const listening = await waitFor((l) => l.msg === 'hwr serve listening', 60_000);
  const url = String(listening.url);
  // Listening comes before the first model scan ends; /readyz says when predictions can be served.
  const until = Date.now() + 60_000;
  while ((await fetch(`${url}/readyz`)).status !== 200) {
    if (Date.now() > until) throw new Error(`hwr serve at ${url} not ready within 60 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, url, lines, stderr: () => stderr, waitFor, exited };
}
