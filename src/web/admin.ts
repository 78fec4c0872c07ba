import './style.css';
import './admin.css';
import { AdminClient, type AdminStats, type Job, type RetrainParams, type Versions } from './admin-api.js';
import { ADMIN_MESSAGES, type AdminKey, adminText } from './admin-i18n.js';
import { ApiError, listModels, type ModelInfo } from './api.js';
import { applyMessages, type Lang, startLang, storeLang } from './i18n.js';

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
  lang: $<HTMLButtonElement>('lang-toggle'),
};

let client: AdminClient | null = null;
let models: ModelInfo[] = [];
let pollTimer: ReturnType<typeof setTimeout> | undefined;
let lang: Lang = startLang();
/** What the view shows, kept to render it again in the other language. */
const shown: { stats?: AdminStats; versions?: Versions; job?: Job } = {};

const t = (key: AdminKey, params?: Record<string, string | number>) => adminText(lang, key, params);
/** A server word (an event's action, a job's state) in the view's language; unknown ones as they came. */
const word = (kind: 'action' | 'state', value: string) => {
  const key = `${kind}_${value}`;
  return key in ADMIN_MESSAGES[lang] ? t(key as AdminKey) : value;
};
const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)} %`);
/** The status line, as a message key so a language switch re-renders it. */
let status: { key: AdminKey; params?: Record<string, string | number> } | null = null;
const say = (key: AdminKey | null, params?: Record<string, string | number>) => {
  status = key ? { key, params } : null;
  ui.status.textContent = key ? t(key, params) : '';
};
const fail = (err: unknown) => say('error', { message: err instanceof Error ? err.message : String(err) });

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
  shown.stats = stats;
  ui.summary.textContent =
    stats.total === 0
      ? t('noFeedback')
      : t('summary', {
          total: stats.total,
          correct: stats.correct,
          withPrediction: stats.withPrediction,
          acc: pct(stats.accuracy),
        });
  fillTable(
    ui.byLabel,
    [t('colLabel'), t('colCorrections'), t('colRight'), t('colAccuracy')],
    Object.entries(stats.byLabel).map(([label, s]) => [
      label,
      String(s.count),
      String(s.correct),
      pct(s.withPrediction ? s.correct / s.withPrediction : null),
    ]),
  );
  fillTable(
    ui.confusions,
    [t('colTrue'), t('colSaid'), t('colTimes')],
    stats.confusions.map((c) => [c.label, c.predicted, String(c.count)]),
  );
}

function promoteButton(name: string, version: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = t('promote', { version });
  b.dataset.testid = `promote-${version}`;
  b.addEventListener('click', () => void act(() => client?.promote(name, version), 'promoted', { version }));
  return b;
}

function renderVersions(v: Versions): void {
  shown.versions = v;
  fillTable(
    ui.versions,
    [t('colVersion'), t('colTestAccuracy'), t('colTrained'), t('colFrom'), ''],
    v.versions.map((row) => {
      let action: string | Node = row.version === v.current ? t('current') : '';
      if (row.bad) action = t('cannotServe', { reason: row.bad });
      else if (row.version !== v.current) action = promoteButton(v.name, row.version);
      return [
        row.version,
        row.accuracy === null ? '–' : pct(row.accuracy),
        row.createdAt ? new Date(row.createdAt).toLocaleString(lang) : '–',
        row.parentVersion ?? '–',
        action,
      ];
    }),
  );
  ui.versions.dataset.current = v.current ?? '';
  const events = [...v.events].reverse().map((e) => {
    const li = document.createElement('li');
    li.textContent =
      t('event', {
        at: new Date(e.at).toLocaleString(lang),
        action: word('action', e.action),
        version: e.version,
      }) +
      (e.from ? t('eventFrom', { from: e.from }) : '') +
      (e.note ? t('eventNote', { note: e.note }) : '');
    return li;
  });
  if (events.length === 0) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = t('historyNone');
    events.push(li);
  }
  ui.history.replaceChildren(...events);
}

function renderJob(job: Job): void {
  shown.job = job;
  ui.job.hidden = false;
  const finished = job.finishedAt
    ? t('jobFinished', { time: new Date(job.finishedAt).toLocaleTimeString(lang) })
    : '';
  const promoted = job.promoted ? t('jobPromoted', { version: job.promoted }) : '';
  ui.jobState.textContent =
    t('job', { id: job.id, model: job.model, state: word('state', job.state) }) + promoted + finished;
  ui.jobState.dataset.state = job.state;
  ui.gate.hidden = !job.gate;
  if (job.gate) {
    ui.gateVerdict.textContent = job.gate.passed ? t('gatePassed') : t('gateRefused');
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
    else {
      if (status?.key === 'jobStarted') say(null); // the job's own line says how it ended
      await refresh();
    }
  } catch (err) {
    fail(err);
  }
}

const model = () => ui.model.value;

function refreshFacts(): void {
  const m = models.find((x) => x.name === model());
  ui.modelFacts.textContent = m
    ? t('modelFacts', { name: m.name, version: m.version, acc: pct(m.accuracy ?? null) })
    : '';
}

async function refresh(): Promise<void> {
  if (!client) return;
  refreshFacts();
  const [stats, versions] = await Promise.all([client.stats(model()), client.versions(model())]);
  renderStats(stats);
  renderVersions(versions);
}

async function act(
  run: () => Promise<unknown> | undefined,
  done: AdminKey,
  params?: Record<string, string | number>,
): Promise<void> {
  try {
    await run();
    say(done, params);
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
    say(null);
    await refresh();
    const latest = jobs.sort((a, b) => b.startedAt.localeCompare(a.startedAt))[0];
    if (latest) await followJob(latest.id);
    document.body.dataset.ready = 'true';
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (err instanceof ApiError && err.status === 404) say('adminOff');
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
      say('jobStarted', { id: job.id });
      return followJob(job.id);
    })
    .catch(fail);
});
ui.rollback.addEventListener('click', () => void act(() => client?.rollback(model()), 'rolledBack'));

/** Static text from admin.html's data-i18n attributes, then what the view shows, in `next`. */
function setLang(next: Lang): void {
  lang = next;
  document.documentElement.lang = next;
  applyMessages(document, ADMIN_MESSAGES[next]);
  ui.lang.lang = next === 'en' ? 'fr' : 'en';
  const { stats, versions, job } = shown;
  if (stats) renderStats(stats);
  if (versions) renderVersions(versions);
  if (job) renderJob(job);
  if (status) say(status.key, status.params);
  if (ui.model.value) refreshFacts();
}
ui.lang.addEventListener('click', () => {
  const next: Lang = lang === 'en' ? 'fr' : 'en';
  storeLang(next);
  setLang(next);
});
setLang(lang);

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) void signIn(saved);
