// HTTP checks of the container smoke test (scripts/test-docker.sh) against a running `hwr serve`.
// Talks to one loopback base URL only. Each subcommand exits 0 on success and 1 with a message.
//
//   tsx scripts/docker-smoke.ts ready      [--timeout s]           wait for /readyz 200
//   tsx scripts/docker-smoke.ts predict    [--per-class n] [--min-accuracy x]
//   tsx scripts/docker-smoke.ts feedback                           store one correction, print its id
//   tsx scripts/docker-smoke.ts stats      [--min-total n]         print the feedback total
//   tsx scripts/docker-smoke.ts version    [--model name]          print the served model version
//   tsx scripts/docker-smoke.ts hammer     --from v [--timeout s]  predict in a loop until the served
//                                                                  version differs from v; no failure allowed
// Through the `scale` profile's nginx (started with HWR_LB_SHOW_UPSTREAM=1, so that answers name the
// replica in X-Hwr-Upstream):
//   tsx scripts/docker-smoke.ts spread     --replicas n             every one of n replicas answers
//   tsx scripts/docker-smoke.ts all-serve  --version v --replicas n [--timeout s]
//                                                                  time until n replicas serve version v
//   tsx scripts/docker-smoke.ts load       [--seconds s] [--concurrency c]
//                                                                  predictions + feedback from c clients;
//                                                                  prints the acknowledged feedback count
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

type Strokes = [number, number][][];
interface StrokeSample {
  readonly id: string;
  readonly label: string;
  readonly strokes: Strokes;
}

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '../test/fixtures/strokes/digits.json');

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    base: { type: 'string', default: process.env.HWR_TEST_BASE ?? 'http://127.0.0.1:5000' },
    model: { type: 'string', default: 'digits' },
    timeout: { type: 'string', default: '120' },
    'per-class': { type: 'string', default: '5' },
    'min-accuracy': { type: 'string', default: '0.9' },
    'min-total': { type: 'string', default: '1' },
    from: { type: 'string' },
    version: { type: 'string' },
    replicas: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '4' },
  },
});

const base = new URL(values.base);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(base.hostname))
  fail(`--base must be a loopback address, got ${base.hostname}`);

function fail(message: string): never {
  console.error(`docker-smoke: ${message}`);
  process.exit(1);
}

function num(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) fail(`--${name} must be a non-negative number, got "${value}"`);
  return n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * GETs are retried (3 tries, 0.5 s apart) when the connection itself fails: right after
 * `docker compose restart web`, the published port once refused a request that followed a successful
 * /readyz (CI). A server that stays down still fails the check; POSTs are never repeated.
 */
async function send(path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(new URL(path, base), {
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      if (body !== undefined || attempt >= 3 || !(err instanceof TypeError)) throw err;
      console.error(`docker-smoke: GET ${path}: ${err.message}; retrying`);
      await sleep(500);
    }
  }
}

async function api<T>(path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await send(path, body);
  const text = await res.text();
  let json: T;
  try {
    json = JSON.parse(text) as T;
  } catch {
    throw new Error(`${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, json };
}

/** The first `perClass` fixture samples of each digit (held-out UNIPEN writers, real pen strokes). */
function samples(perClass: number): StrokeSample[] {
  const all = (JSON.parse(readFileSync(FIXTURE, 'utf8')) as { samples: StrokeSample[] }).samples;
  const taken = new Map<string, number>();
  return all.filter((s) => {
    const n = taken.get(s.label) ?? 0;
    taken.set(s.label, n + 1);
    return n < perClass;
  });
}

interface Prediction {
  label: string;
  confidence: number;
  model: { name: string; version: string };
}

async function servedVersion(): Promise<string | undefined> {
  const { status, json } = await api<{ models: { name: string; version: string }[] }>('/api/models');
  if (status !== 200) throw new Error(`/api/models: HTTP ${status}`);
  return json.models.find((m) => m.name === values.model)?.version;
}

async function ready(): Promise<void> {
  const deadline = Date.now() + num('timeout', values.timeout) * 1000;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const { status, json } = await api<{ models?: string[]; error?: string }>('/readyz');
      if (status === 200) {
        console.log(`ready: ${json.models?.join(', ')}`);
        return;
      }
      last = `HTTP ${status} ${json.error ?? ''}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(500);
  }
  fail(`not ready after ${values.timeout} s (last: ${last})`);
}

async function predict(): Promise<void> {
  const set = samples(num('per-class', values['per-class']));
  let correct = 0;
  for (const s of set) {
    const { status, json } = await api<Prediction & { error?: string }>('/api/predict', {
      strokes: s.strokes,
      model: values.model,
    });
    if (status !== 200) fail(`predict ${s.id}: HTTP ${status} ${json.error ?? ''}`);
    if (json.label === s.label) correct++;
  }
  const accuracy = correct / set.length;
  const version = await servedVersion();
  console.log(
    `predict: ${correct}/${set.length} fixture digits right (${(accuracy * 100).toFixed(1)}%) by ${values.model}@${version}`,
  );
  const min = num('min-accuracy', values['min-accuracy']);
  if (accuracy < min) fail(`accuracy ${accuracy.toFixed(3)} is below --min-accuracy ${min}`);
}

async function feedback(): Promise<void> {
  const [s] = samples(1).filter((x) => x.label === '7');
  const { status, json } = await api<{ id?: number; error?: string }>('/api/feedback', {
    strokes: s.strokes,
    label: s.label,
    model: values.model,
  });
  if (status !== 201 || typeof json.id !== 'number') fail(`feedback: HTTP ${status} ${json.error ?? ''}`);
  console.log(`feedback: stored id ${json.id}`);
}

async function stats(): Promise<void> {
  const { status, json } = await api<{ total: number; error?: string }>('/api/feedback/stats');
  if (status !== 200) fail(`feedback stats: HTTP ${status} ${json.error ?? ''}`);
  console.log(`feedback stats: total ${json.total}`);
  const min = num('min-total', values['min-total']);
  if (json.total < min) fail(`feedback total ${json.total} is below --min-total ${min}`);
}

/**
 * Predicts in a loop while a new model is published, until the served version changes (and a second
 * longer, to cover requests right after the swap). Any non-200 answer or network error fails.
 */
async function hammer(): Promise<void> {
  const from = values.from ?? fail('hammer needs --from <version>');
  const deadline = Date.now() + num('timeout', values.timeout) * 1000;
  const [s] = samples(1);
  let ok = 0;
  const failures: string[] = [];
  let swappedAt: number | undefined;
  let to: string | undefined;
  while (Date.now() < deadline && (swappedAt === undefined || Date.now() - swappedAt < 1000)) {
    try {
      const { status, json } = await api<Prediction & { error?: string }>('/api/predict', {
        strokes: s.strokes,
        model: values.model,
      });
      if (status !== 200) failures.push(`HTTP ${status} ${json.error ?? ''}`);
      else {
        ok++;
        if (json.model.version !== from && swappedAt === undefined) {
          swappedAt = Date.now();
          to = json.model.version;
        }
      }
    } catch (err) {
      failures.push((err as Error).message);
    }
    if (failures.length > 0) break;
    // ~3 a second: under hwr serve's default 300 predictions a minute per client, with the rest of
    // the smoke test's requests in the same minute.
    await sleep(330);
  }
  console.log(`hammer: ${ok} predictions, ${failures.length} failures, version ${from} -> ${to ?? from}`);
  if (failures.length > 0) fail(`prediction failed during the model swap: ${failures[0]}`);
  if (to === undefined) fail(`the served version stayed ${from} for ${values.timeout} s`);
  const listed = await servedVersion();
  if (listed !== to) fail(`/api/models lists ${values.model}@${listed}, predictions came from ${to}`);
}

/** Which replica answered, as nginx names it (X-Hwr-Upstream; "a, b" when it retried on b). */
function upstreamOf(res: Response): string {
  const addr = res.headers.get('x-hwr-upstream');
  if (!addr) fail('no X-Hwr-Upstream header: is nginx running with HWR_LB_SHOW_UPSTREAM=1?');
  return addr.split(',').pop()?.trim() ?? addr;
}

async function modelsVia(): Promise<{ upstream: string; version?: string }> {
  const res = await send('/api/models');
  const body = (await res.json()) as { models: { name: string; version: string }[] };
  if (res.status !== 200) throw new Error(`/api/models: HTTP ${res.status}`);
  return { upstream: upstreamOf(res), version: body.models.find((m) => m.name === values.model)?.version };
}

/** Round-robin reaches every replica: n distinct upstreams within 10 n requests. */
async function spread(): Promise<void> {
  const n = num('replicas', values.replicas);
  const seen = new Map<string, string | undefined>();
  for (let i = 0; i < 10 * n && seen.size < n; i++) {
    const { upstream, version } = await modelsVia();
    seen.set(upstream, version);
  }
  console.log(`spread: ${[...seen].map(([u, v]) => `${u} serves ${values.model}@${v}`).join('; ')}`);
  if (seen.size < n) fail(`only ${seen.size} of ${n} replicas answered through the load balancer`);
}

/** Polls through the balancer until n distinct replicas have answered with --version; prints the time. */
async function allServe(): Promise<void> {
  const want = values.version ?? fail('all-serve needs --version <v>');
  const n = num('replicas', values.replicas);
  const t0 = Date.now();
  const deadline = t0 + num('timeout', values.timeout) * 1000;
  const serving = new Set<string>();
  const last = new Map<string, string | undefined>();
  while (serving.size < n) {
    if (Date.now() > deadline)
      fail(
        `after ${values.timeout} s only ${serving.size} of ${n} replicas serve ${want}: ${JSON.stringify([...last])}`,
      );
    const { upstream, version } = await modelsVia();
    last.set(upstream, version);
    if (version === want) serving.add(upstream);
    else serving.delete(upstream);
    await sleep(20);
  }
  console.log(
    `all-serve: ${n} replicas serve ${values.model}@${want} ${Date.now() - t0} ms after the promote answered`,
  );
}

/**
 * c clients, each alternating a prediction and a feedback for --seconds. A replica killed meanwhile
 * may cut off the requests it had in flight (at most one per client); nginx retries predictions on
 * another replica. Prints `acknowledged N` (feedback answered 201) for the caller to compare with the
 * stored total.
 */
async function load(): Promise<void> {
  const seconds = num('seconds', values.seconds);
  const clients = num('concurrency', values.concurrency);
  const set = samples(2);
  const end = Date.now() + seconds * 1000;
  let acknowledged = 0;
  let predictions = 0;
  const failures: string[] = [];
  const client = async (k: number) => {
    for (let i = k; Date.now() < end; i++) {
      const s = set[i % set.length];
      const path = i % 2 === 0 ? '/api/predict' : '/api/feedback';
      const body =
        i % 2 === 0
          ? { strokes: s.strokes, model: values.model }
          : { strokes: s.strokes, label: s.label, model: values.model };
      try {
        const res = await send(path, body);
        await res.arrayBuffer();
        if (path === '/api/feedback' && res.status === 201) acknowledged++;
        else if (path === '/api/predict' && res.status === 200) predictions++;
        else failures.push(`${path}: HTTP ${res.status}`);
      } catch (err) {
        failures.push(`${path}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, k) => client(k)));
  console.log(
    `load: ${predictions} predictions, ${failures.length} failed ${JSON.stringify(failures.slice(0, 4))}`,
  );
  console.log(`acknowledged ${acknowledged}`);
  if (failures.length > clients)
    fail(`${failures.length} failed requests: more than the ${clients} a replica's death can cut off`);
}

const commands: Record<string, () => Promise<void>> = {
  spread,
  'all-serve': allServe,
  load,
  ready,
  predict,
  feedback,
  stats,
  hammer,
  version: async () => console.log((await servedVersion()) ?? fail(`model "${values.model}" is not served`)),
};

const command = commands[positionals[0] ?? ''];
if (!command) fail(`usage: docker-smoke.ts ${Object.keys(commands).join('|')} [options]`);
command().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
