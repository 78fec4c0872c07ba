// Runs seeded fuzz cases against the app (app.inject and real HTTP) and checks the answer invariants:
// no 5xx, every 4xx is JSON with an `error` message, every 2xx is a well-formed answer, RSS bounded.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { HwrApp } from '../../src/serve/app.js';
import { buildTestApp, saveTestModel } from '../../src/serve/testing.js';
import type { FuzzCase } from './cases.js';

export interface FuzzServer {
  readonly hwr: HwrApp;
  /** http://127.0.0.1:port of the same app. */
  readonly url: string;
  readonly root: string;
  close(): Promise<void>;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz'.split('');

/** Two tiny untrained models (digits, letters) in a temp folder, served with rate limits off. */
export async function startFuzzServer(): Promise<FuzzServer> {
  const root = await mkdtemp(join(tmpdir(), 'hwr-fuzz-'));
  await mkdir(join(root, 'models'));
  await saveTestModel(join(root, 'models', 'digits'));
  await saveTestModel(join(root, 'models', 'letters'), { name: 'letters', classes: LETTERS });
  const hwr = await buildTestApp(root, {
    // The fuzzer is one client sending thousands of requests; the limiter has its own tests.
    limits: { predictPerMinute: 0, feedbackPerMinute: 0 },
  });
  const url = await hwr.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    hwr,
    url,
    root,
    close: async () => {
      await hwr.app.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

export interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

export type Transport = (c: FuzzCase) => Promise<Answer>;

export function injectTransport(server: FuzzServer): Transport {
  return async (c) => {
    const res = await server.hwr.app.inject({
      method: 'POST',
      url: c.url,
      headers: c.contentType === undefined ? {} : { 'content-type': c.contentType },
      payload: c.body,
    });
    return { status: res.statusCode, contentType: String(res.headers['content-type'] ?? ''), body: res.body };
  };
}

export function httpTransport(server: FuzzServer): Transport {
  return async (c) => {
    const res = await fetch(`${server.url}${c.url}`, {
      method: 'POST',
      headers: c.contentType === undefined ? {} : { 'content-type': c.contentType },
      // A Buffer: fetch would otherwise add text/plain for a string body without a content type.
      body: Buffer.from(c.body),
    });
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: await res.text() };
  };
}

/** Why an answer breaks the invariants, or undefined when it is fine. */
export function problemWith(c: FuzzCase, a: Answer): string | undefined {
  if (a.status >= 500) return `answered ${a.status}: ${a.body.slice(0, 300)}`;
  let json: unknown;
  try {
    json = JSON.parse(a.body);
  } catch {
    return `answered ${a.status} with a non-JSON body: ${a.body.slice(0, 200)}`;
  }
  const body = json as Record<string, unknown>;
  if (!a.contentType.startsWith('application/json')) return `answered ${a.status} as ${a.contentType}`;
  if (a.status >= 400) {
    if (typeof body.error !== 'string' || body.error.length === 0)
      return `answered ${a.status} without an error message: ${a.body.slice(0, 200)}`;
    if (body.statusCode !== a.status)
      return `error body says statusCode ${body.statusCode}, status is ${a.status}`;
    return undefined;
  }
  if (c.url.startsWith('/api/feedback')) {
    if (a.status !== 201 || !Number.isInteger(body.id))
      return `feedback answered ${a.status}: ${a.body.slice(0, 200)}`;
    return undefined;
  }
  const results = c.url.startsWith('/api/predict/batch') ? body.results : [body];
  if (a.status !== 200 || !Array.isArray(results))
    return `predict answered ${a.status}: ${a.body.slice(0, 200)}`;
  for (const r of results as Array<Record<string, unknown>>) {
    if (
      typeof r.label !== 'string' ||
      typeof r.confidence !== 'number' ||
      !(r.confidence >= 0 && r.confidence <= 1)
    )
      return `malformed prediction: ${JSON.stringify(r).slice(0, 200)}`;
  }
  return undefined;
}

export interface FuzzReport {
  readonly runs: number;
  readonly seed: number;
  /** Answers by status code, and by status class ("2xx", "4xx", ...). */
  readonly byStatus: Record<string, number>;
  readonly byClass: Record<string, number>;
  /** Cases by generator kind. */
  readonly byKind: Record<string, number>;
  /** 4xx answers by error message (numbers and quoted values masked), most common first. */
  readonly byError: Record<string, number>;
  readonly peakRssMb: number;
  readonly startRssMb: number;
  readonly endRssMb: number;
  readonly seconds: number;
  /** Set when the property failed: fast-check's report (seed, path, shrunk counterexample). */
  readonly failure?: string;
}

export interface FuzzRunOptions {
  readonly numRuns: number;
  readonly seed: number;
  readonly transport: Transport;
  /** Called every `every` cases with the count so far (progress lines in the long run). */
  readonly progress?: (done: number) => void;
  readonly every?: number;
}

/** Runs `numRuns` seeded cases; never throws on a broken invariant, returns it in `failure`. */
export async function runFuzz(options: FuzzRunOptions): Promise<FuzzReport> {
  const byStatus: Record<string, number> = {};
  const byClass: Record<string, number> = {};
  const byKind: Record<string, number> = {};
  const byError: Record<string, number> = {};
  const startRss = process.memoryUsage.rss();
  let peak = startRss;
  let runs = 0;
  const started = Date.now();
  // Imported here: building the hostile images takes seconds, and the raw-socket tests need none.
  const { fuzzCase } = await import('./cases.js');
  const property = fc.asyncProperty(fuzzCase, async (c) => {
    const answer = await options.transport(c);
    runs++;
    byStatus[answer.status] = (byStatus[answer.status] ?? 0) + 1;
    const cls = `${Math.floor(answer.status / 100)}xx`;
    byClass[cls] = (byClass[cls] ?? 0) + 1;
    byKind[c.kind] = (byKind[c.kind] ?? 0) + 1;
    peak = Math.max(peak, process.memoryUsage.rss());
    if (options.progress && runs % (options.every ?? 1000) === 0) options.progress(runs);
    if (answer.status >= 400) {
      const message = errorMessage(answer.body);
      byError[message] = (byError[message] ?? 0) + 1;
    }
    const problem = problemWith(c, answer);
    if (problem)
      throw new Error(`${problem}\n  request: POST ${c.url} (${c.contentType}) ${c.body.slice(0, 300)}`);
  });
  const result = await fc.check(property, {
    numRuns: options.numRuns,
    seed: options.seed,
    endOnFailure: true,
  });
  const mb = (n: number) => Math.round(n / 2 ** 20);
  return {
    runs,
    seed: options.seed,
    byStatus,
    byClass,
    byKind,
    byError: Object.fromEntries(Object.entries(byError).sort((a, b) => b[1] - a[1])),
    peakRssMb: mb(peak),
    startRssMb: mb(startRss),
    endRssMb: mb(process.memoryUsage.rss()),
    seconds: (Date.now() - started) / 1000,
    failure: result.failed ? fc.defaultReportMessage(result) : undefined,
  };
}

function errorMessage(body: string): string {
  try {
    const error = String((JSON.parse(body) as { error?: unknown }).error);
    return error
      .replace(/"[^"]*"/g, '"…"')
      .replace(/\d+/g, 'N')
      .slice(0, 70);
  } catch {
    return '(not JSON)';
  }
}

export function formatReport(name: string, r: FuzzReport): string {
  const entries = (o: Record<string, number>) =>
    Object.entries(o)
      .sort()
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
  return [
    `${name}: ${r.runs} cases (seed ${r.seed}) in ${r.seconds.toFixed(1)} s`,
    `  by class:  ${entries(r.byClass)}`,
    `  by status: ${entries(r.byStatus)}`,
    `  by kind:   ${entries(r.byKind)}`,
    `  top errors: ${Object.entries(r.byError)
      .slice(0, 12)
      .map(([k, v]) => `\n    ${v} × ${k}`)
      .join('')}`,
    `  RSS: start ${r.startRssMb} MB, peak ${r.peakRssMb} MB, end ${r.endRssMb} MB`,
    ...(r.failure ? [`  FAILED: ${r.failure}`] : []),
  ].join('\n');
}
