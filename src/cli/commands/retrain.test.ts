import { describe, expect, it } from 'vitest';
import { jobArgv } from '../../retrain/jobs.js';
import { type RetrainParams, retrainArgv } from '../../schema/retrain.js';
import { RetrainBody } from '../../schema/wire.js';
import { retrainCommand, retrainParamsOf } from './retrain.js';

const PATHS = ['--base', 'models/digits', '--feedback', 'data/feedback.sqlite', '--out', 'cand'];

/** What `hwr retrain <argv>` passes on to retrain(), parsed as the command parses it. */
function parse(argv: readonly string[]): { params: RetrainParams; opts: Record<string, unknown> } {
  const opts = retrainCommand()
    .exitOverride()
    .parse([...argv], { from: 'user' })
    .opts();
  return { params: retrainParamsOf(opts), opts };
}

describe('retrain parameters: one schema for the command line, the admin body and a job', () => {
  it('a full parameter set goes argv -> schema -> argv and back unchanged', () => {
    const argv = [
      ...PATHS,
      ...['--epochs', '3', '--replay', '40', '--holdout', '0.25', '--tolerance', '0.01', '--alpha', '0.1'],
      ...['--oversample', '2', '--lr', '0.001', '--seed', '7', '--test-limit', '50', '--stroke-epochs', '1'],
      ...['--stroke-replay', '10', '--stroke-lr', '0.0005', '--promote'],
    ];
    const { params } = parse(argv);
    expect(params).toEqual({
      epochs: 3,
      replay: 40,
      holdout: 0.25,
      tolerance: 0.01,
      alpha: 0.1,
      oversample: 2,
      lr: 0.001,
      seed: 7,
      testLimit: 50,
      strokeEpochs: 1,
      strokeReplay: 10,
      strokeLr: 0.0005,
      promote: true,
    });
    expect(retrainArgv(params)).toEqual(argv.slice(PATHS.length));
    expect(parse([...PATHS, ...retrainArgv(params)]).params).toEqual(params);
  });

  it('the admin body carries the parameters it allows into the job argv, which parses back to them', () => {
    const { params } = parse([...PATHS, '--epochs', '4', '--holdout', '0.3', '--test-limit', '20']);
    const body = RetrainBody.parse({
      model: 'digits',
      epochs: params.epochs,
      replay: params.replay,
      holdout: params.holdout,
      tolerance: params.tolerance,
      testLimit: params.testLimit,
      promote: false,
    });
    const argv = jobArgv({ ...body, model: 'digits', base: 'models/digits', feedback: 'fb' }, '/jobs/1');
    expect(argv.slice(0, 9)).toEqual([
      'retrain',
      '--base',
      'models/digits',
      '--feedback',
      'fb',
      '--out',
      '/jobs/1/candidate',
      '--json',
      '/jobs/1/result.json',
    ]);
    const back = parse(argv.slice(1)).params;
    // The defaults of the flags the body does not set (alpha, seed, stroke replay) come from the command.
    expect(back).toEqual({ ...params, promote: undefined });
    expect({ epochs: back.epochs, holdout: back.holdout, testLimit: back.testLimit }).toEqual({
      epochs: 4,
      holdout: 0.3,
      testLimit: 20,
    });
    // A job promotes unless its request says not to.
    expect(jobArgv({ model: 'digits', base: 'b', feedback: 'f' }, '/j')).toContain('--promote');
  });

  it('a bad value names its flag on the command line and its field in the admin body', () => {
    expect(() => parse([...PATHS, '--epochs', '0', '--holdout', 'half'])).toThrow(
      '--epochs must be an integer >= 1, got "0"\n--holdout must be a number in [0.01, 0.9], got "half"',
    );
    expect(() => parse([...PATHS, '--oversample', ''])).toThrow('--oversample must be an integer >= 1');
    const tooMuch = RetrainBody.safeParse({ epochs: 21, replay: 2_000_000, seed: 3 });
    expect(tooMuch.success).toBe(false);
    expect(tooMuch.error?.issues.map((i) => `${i.path.join('.') || i.code}: ${i.message}`).sort()).toEqual([
      'epochs: must be an integer from 1 to 20',
      'replay: must be an integer from 0 to 1000000',
      'unrecognized_keys: Unrecognized key: "seed"',
    ]);
  });
});
