import type { Command } from 'commander';
import { ModelCatalog } from '../../store/catalog.js';
import { PostgresDatabase } from '../../store/postgres-database.js';
import { ModelStore, type StoreEntry } from '../../store/store.js';
import type { CliEdge, HwrConfig } from '../config.js';

interface ModelsOpts {
  models: string;
  json?: boolean;
}

type Served = Awaited<ReturnType<ModelStore['served']>>;

function pct(v: number | undefined): string {
  return v === undefined ? '-' : `${(v * 100).toFixed(2)}%`;
}

function describeEntry(e: StoreEntry, served: Served): string {
  const lines = [
    `${e.name} (${e.kind}${e.kind === 'plain' ? ', adopted as v0001 on the first promote' : ''})`,
  ];
  if (served.version !== e.current)
    lines.push(
      `  ! current ${e.current ?? '(none)'} cannot be served (${served.currentError}); ` +
        (served.version ? `a server serves ${served.version}` : 'a server serves nothing of it'),
    );
  for (const v of e.versions) {
    const mark = v.version === served.version ? '*' : ' ';
    if (!v.metadata) {
      lines.push(`  ${mark} ${v.version}  unreadable: ${v.error}`);
      continue;
    }
    const m = v.metadata;
    const gate = (m.extra?.gate as { passed?: boolean } | undefined)?.passed;
    lines.push(
      `  ${mark} ${v.version.padEnd(8)} ${m.arch.padEnd(8)} test ${pct(m.testAccuracy).padStart(7)}  ` +
        `parent ${(m.parentVersion ?? '-').padEnd(6)} ${gate === undefined ? '' : `gate ${gate ? 'passed' : 'failed'}  `}` +
        `${m.createdAt}${v.bad ? `  BAD: ${v.bad.reason}` : ''}`,
    );
  }
  return lines.join('\n');
}

/** The store of the models folder the `models` command was given. */
function storeOf(cmd: Command): ModelStore {
  return new ModelStore(cmd.optsWithGlobals<ModelsOpts>().models);
}

/** Runs a switch through the catalog: the cluster's database when HWR_DATABASE_URL is set. */
async function withCatalog<T>(
  cmd: Command,
  config: HwrConfig,
  fn: (catalog: ModelCatalog) => Promise<T>,
): Promise<T> {
  const url = config.databaseUrl;
  const database = url ? await PostgresDatabase.open({ url }) : undefined;
  try {
    return await fn(new ModelCatalog(storeOf(cmd), database));
  } finally {
    await database?.close();
  }
}

/** `hwr models list`: every store with its versions, the served one marked. */
async function listModels(opts: { json?: boolean }, cmd: Command, config: HwrConfig): Promise<void> {
  const store = storeOf(cmd);
  let entries = await store.list();
  const served: Served[] = [];
  for (const e of entries) served.push(await store.served(e));
  // A cluster (HWR_DATABASE_URL): the replicas serve the database's pointer, not the folder's link.
  const pointers = await withCatalog(cmd, config, async (c) =>
    c.shared ? c.currents() : new Map<string, string>(),
  );
  entries = entries.map((e, i) => {
    const current = pointers.get(e.name);
    if (!current) return e;
    served[i] = { version: current };
    return { ...e, current };
  });
  if (opts.json)
    console.log(
      JSON.stringify(
        entries.map((e, i) => ({
          ...e,
          served: served[i].version,
          currentError: served[i].currentError,
        })),
        null,
        2,
      ),
    );
  else if (entries.length === 0) console.log('no models');
  else console.log(entries.map((e, i) => describeEntry(e, served[i])).join('\n'));
}

export function registerModels(program: Command, edge: CliEdge): void {
  const models = program
    .command('models')
    .description('The versioned model store: list versions, promote one, roll back');
  models.option('--models <dir>', 'models folder (as given to hwr serve)', 'models');

  models
    .command('list')
    .description(
      'models with their versions; * marks the one a server serves (verified: current, or the newest good version when current is broken)',
    )
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }, cmd: Command) => listModels(opts, cmd, edge.config));

  models
    .command('add')
    .description(
      'copy model directory DIR into the store NAME as its next version, once it passes verification (not current yet, except for a new store)',
    )
    .argument('<name>')
    .argument('<dir>', 'a model directory, as hwr train writes it')
    .action(async (name: string, dir: string, _opts: object, cmd: Command) => {
      const added = await storeOf(cmd).add(name, dir, { note: 'hwr models add' });
      console.log(`${name}: added ${added.version} (hwr models promote ${name} ${added.version} serves it)`);
    });

  models
    .command('promote')
    .description(
      'make VERSION the served version of NAME once it passes verification (weights hash, shapes, a trial load); switches the current pointer atomically',
    )
    .argument('<name>')
    .argument('<version>', 'e.g. v0002')
    .action(async (name: string, version: string, _opts: object, cmd: Command) => {
      const entry = await withCatalog(cmd, edge.config, (c) =>
        c.promote(name, version, 'hwr models promote'),
      );
      console.log(`${name}: current is now ${entry.current}`);
    });

  models
    .command('rollback')
    .description(
      'switch NAME back to the version that was current before (skipping versions that fail verification)',
    )
    .argument('<name>')
    .action(async (name: string, _opts: object, cmd: Command) => {
      const entry = await withCatalog(cmd, edge.config, (c) => c.rollback(name, 'hwr models rollback'));
      console.log(`${name}: rolled back, current is now ${entry.current}`);
    });
}
