import './style.css';
import './admin.css';
import { AdminClient, type AdminStats, type Job, type RetrainParams, type Versions } from './admin-api.js';
import { ApiError, listModels, type ModelInfo } from './api.js';

/** Session storage only: the token lives as long as the tab and never enters a URL or a cookie. */
const TOKEN_KEY = 'hwr.adminToken';
const POLL_MS = 1000;
/** The log panel keeps the end of a job's log. */
const LOG_LINES = 200;

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from admin.html`);
  return el as T;
}

const ui = {
  signin: $<HTMLElement>('signin'),
  signinForm: $<HTMLFormElement>('signin-form'),
  token: $<HTMLInputElement>('token'),
  console: $<HTMLElement>('console'),
  model: $<HTMLSelectElement>('model'),
  signout: $<HTMLButtonElement>('signout'),
  modelFacts: $<HTMLElement>('model-facts'),
  summary: $<HTMLElement>('feedback-summary'),
  byLabel: $<HTMLTableElement>('by-label'),
  confusions: $<HTMLTableElement>('confusions'),
  retrainForm: $<HTMLFormElement>('retrain-form'),
  job: $<HTMLElement>('job'),
  jobState: $<HTMLElement>('job-state'),
  gate: $<HTMLElement>('gate'),
  gateVerdict: $<HTMLElement>('gate-verdict'),
  gateChecks: $<HTMLUListElement>('gate-checks'),
  jobLog: $<HTMLPreElement>('job-log'),
  versions: $<HTMLTableElement>('versions'),
  rollback: $<HTMLButtonElement>('rollback'),
  history: $<HTMLOListElement>('history'),
  status: $<HTMLElement>('admin-status'),
};

let client: AdminClient | null = null;
let models: ModelInfo[] = [];
let pollTimer: ReturnType<typeof setTimeout> | undefined;

const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)} %`);
const say = (text: string) => {
  ui.status.textContent = text;
};
const fail = (err: unknown) => say(`Error: ${err instanceof Error ? err.message : String(err)}`);

function cell(tag: 'td' | 'th', text: string): HTMLTableCellElement {
  const c = document.createElement(tag);
  c.textContent = text;
  return c;
}

function fillTable(table: HTMLTableElement, head: string[], rows: (string | Node)[][]): void {
  const caption = table.caption;
  const thead = document.createElement('thead');
  thead.append(rowOf('th', head));
  const tbody = document.createElement('tbody');
  tbody.append(...rows.map((r) => rowOf('td', r)));
  table.replaceChildren(...(caption ? [caption] : []), thead, tbody);
}

function rowOf(tag: 'td' | 'th', values: (string | Node)[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.append(
    ...values.map((v) => {
      if (typeof v === 'string') return cell(tag, v);
      const c = document.createElement(tag);
      c.append(v);
      return c;
    }),
  );
  return tr;
}

function renderStats(stats: AdminStats): void {
  ui.summary.textContent =
    stats.total === 0
      ? 'No feedback for this model yet.'
      : `${stats.total} corrections; the model was right on ${stats.correct} of ${stats.withPrediction} (${pct(stats.accuracy)}).`;
  fillTable(
    ui.byLabel,
    ['label', 'corrections', 'model right', 'accuracy'],
    Object.entries(stats.byLabel).map(([label, s]) => [
      label,
      String(s.count),
      String(s.correct),
      pct(s.withPrediction ? s.correct / s.withPrediction : null),
    ]),
  );
  fillTable(
    ui.confusions,
    ['true label', 'model said', 'times'],
    stats.confusions.map((c) => [c.label, c.predicted, String(c.count)]),
  );
}

function renderVersions(v: Versions): void {
  fillTable(
    ui.versions,
    ['version', 'test accuracy', 'trained', 'from', ''],
    v.versions.map((row) => {
      let action: string | Node = row.version === v.current ? 'current' : '';
      if (row.bad) action = `cannot be served: ${row.bad}`;
      else if (row.version !== v.current) {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = `Promote ${row.version}`;
        b.dataset.testid = `promote-${row.version}`;
        b.addEventListener(
          'click',
          () => void act(() => client?.promote(v.name, row.version), `${row.version} promoted`),
        );
        action = b;
      }
      return [
        row.version,
        row.accuracy === null ? '–' : pct(row.accuracy),
        row.createdAt ? new Date(row.createdAt).toLocaleString() : '–',
        row.parentVersion ?? '–',
        action,
      ];
    }),
  );
  ui.versions.dataset.current = v.current ?? '';
  ui.history.replaceChildren(
    ...[...v.events].reverse().map((e) => {
      const li = document.createElement('li');
      li.textContent = `${new Date(e.at).toLocaleString()}: ${e.action} ${e.version}${e.from ? ` (from ${e.from})` : ''}${e.note ? `, ${e.note}` : ''}`;
      return li;
    }),
  );
}

function renderJob(job: Job): void {
  ui.job.hidden = false;
  const finished = job.finishedAt ? `, finished ${new Date(job.finishedAt).toLocaleTimeString()}` : '';
  const promoted = job.promoted ? `: ${job.promoted} is current` : '';
  ui.jobState.textContent = `Job ${job.id} (${job.model}): ${job.state}${promoted}${finished}`;
  ui.jobState.dataset.state = job.state;
  ui.gate.hidden = !job.gate;
  if (job.gate) {
    ui.gateVerdict.textContent = job.gate.passed ? 'Gate passed' : 'Gate refused the candidate';
    ui.gateChecks.replaceChildren(
      ...job.gate.checks.map((c) => {
        const li = document.createElement('li');
        li.textContent = c;
        return li;
      }),
    );
  }
  const atEnd = ui.jobLog.scrollTop + ui.jobLog.clientHeight >= ui.jobLog.scrollHeight - 4;
  ui.jobLog.textContent = job.log.slice(-LOG_LINES).join('\n');
  if (atEnd) ui.jobLog.scrollTop = ui.jobLog.scrollHeight;
}

async function followJob(id: string): Promise<void> {
  clearTimeout(pollTimer);
  if (!client) return;
  try {
    const job = await client.job(id);
    renderJob(job);
    if (job.state === 'running') pollTimer = setTimeout(() => void followJob(id), POLL_MS);
    else await refresh();
  } catch (err) {
    fail(err);
  }
}

const model = () => ui.model.value;

async function refresh(): Promise<void> {
  if (!client) return;
  const m = models.find((x) => x.name === model());
  ui.modelFacts.textContent = m
    ? `Serving ${m.name} ${m.version}, test accuracy ${pct(m.accuracy ?? null)}.`
    : '';
  const [stats, versions] = await Promise.all([client.stats(model()), client.versions(model())]);
  renderStats(stats);
  renderVersions(versions);
}

async function act(run: () => Promise<unknown> | undefined, done: string): Promise<void> {
  try {
    await run();
    say(done);
    models = await listModels();
    await refresh();
  } catch (err) {
    fail(err);
  }
}

function retrainParams(form: HTMLFormElement): RetrainParams {
  const data = new FormData(form);
  const num = (name: string) => {
    const v = String(data.get(name) ?? '').trim();
    return v === '' ? undefined : Number(v);
  };
  return {
    model: model(),
    epochs: num('epochs'),
    replay: num('replay'),
    holdout: num('holdout'),
    testLimit: num('testLimit'),
    promote: data.get('promote') === 'on',
  };
}

async function signIn(token: string): Promise<void> {
  const candidate = new AdminClient(token);
  try {
    const jobs = await candidate.jobs(); // checks the token
    client = candidate;
    sessionStorage.setItem(TOKEN_KEY, token);
    models = await listModels();
    ui.model.replaceChildren(
      ...models.map((m) => {
        const o = document.createElement('option');
        o.value = m.name;
        o.textContent = m.name;
        return o;
      }),
    );
    ui.signin.hidden = true;
    ui.console.hidden = false;
    say('');
    await refresh();
    const latest = jobs.sort((a, b) => b.startedAt.localeCompare(a.startedAt))[0];
    if (latest) await followJob(latest.id);
    document.body.dataset.ready = 'true';
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (err instanceof ApiError && err.status === 404)
      say('The admin API is off on this server: start it with HWR_ADMIN_TOKEN set.');
    else fail(err);
  }
}

ui.signinForm.addEventListener('submit', (e) => {
  e.preventDefault();
  void signIn(ui.token.value.trim());
  ui.token.value = '';
});
ui.signout.addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});
ui.model.addEventListener('change', () => void refresh().catch(fail));
ui.retrainForm.addEventListener('submit', (e) => {
  e.preventDefault();
  if (!client) return;
  client
    .retrain(retrainParams(ui.retrainForm))
    .then((job) => {
      say(`Retrain job ${job.id} started.`);
      return followJob(job.id);
    })
    .catch(fail);
});
ui.rollback.addEventListener('click', () => void act(() => client?.rollback(model()), 'Rolled back'));

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) void signIn(saved);
