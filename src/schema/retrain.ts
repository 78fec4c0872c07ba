import { z } from 'zod';

/*
 * The parameters of a retrain, one zod schema for every shape they take: `hwr retrain`'s flags
 * (src/cli/commands/retrain.ts parses them with it), the admin API's body (RetrainBody in wire.ts
 * picks the ones a server lets a client set), a job's request and the argv a job starts
 * `hwr retrain` with (retrainArgv, derived from the schema's fields).
 */

const int = (min: number, max?: number) => {
  const error =
    max === undefined ? `must be an integer >= ${min}` : `must be an integer from ${min} to ${max}`;
  const n = z.number({ error }).int({ error }).min(min, { error });
  return max === undefined ? n : n.max(max, { error });
};

const num = (min: number, max: number) => {
  const error = `must be a number in [${min}, ${max}]`;
  return z.number({ error }).min(min, { error }).max(max, { error });
};

/** Each field is a flag of `hwr retrain`: the key in kebab case (testLimit: --test-limit). */
export const RetrainParams = z
  .object({
    epochs: int(1).optional().describe('Fine-tuning epochs'),
    replay: int(0).optional().describe('Original training images mixed in against forgetting'),
    holdout: num(0.01, 0.9).optional().describe('Share of the feedback held out to judge the candidate'),
    tolerance: num(0, 1).optional().describe('Largest accepted test accuracy drop (absolute)'),
    alpha: num(0, 1).optional().describe('McNemar level: significantly worse on the test set fails the gate'),
    oversample: int(1).optional().describe('Times each feedback sample is repeated per epoch'),
    lr: num(1e-8, 1).optional().describe("Learning rate (default: a tenth of the base model's)"),
    seed: int(0).optional(),
    testLimit: int(1).optional().describe('Test on the first n test images only'),
    strokeEpochs: int(1).optional(),
    strokeReplay: int(0).optional(),
    strokeLr: num(1e-8, 1).optional(),
    promote: z.boolean().optional().describe('Make the candidate current when the gate passes'),
  })
  .strict();

export type RetrainParams = z.infer<typeof RetrainParams>;
export type RetrainParam = keyof RetrainParams;

/** The `hwr retrain` flag of a parameter. */
export function retrainFlag(key: RetrainParam): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** The flags that give `params` to `hwr retrain`, in the schema's order; unset ones are left out. */
export function retrainArgv(params: RetrainParams): string[] {
  const argv: string[] = [];
  for (const key of Object.keys(RetrainParams.shape) as RetrainParam[]) {
    const value = params[key];
    if (value === undefined || value === false) continue;
    argv.push(...(value === true ? [retrainFlag(key)] : [retrainFlag(key), String(value)]));
  }
  return argv;
}

/**
 * The parameters from `hwr retrain`'s option values (commander gives numbers as strings), checked by
 * the schema: the parameters, or one message per bad value naming its flag.
 */
export function safeParseRetrainFlags(
  opts: Readonly<Record<string, unknown>>,
): { success: true; data: RetrainParams } | { success: false; errors: string[] } {
  const keys = Object.keys(RetrainParams.shape) as RetrainParam[];
  const input = Object.fromEntries(
    keys
      .filter((k) => opts[k] !== undefined)
      .map((k) => [k, typeof opts[k] === 'string' && opts[k].trim() !== '' ? Number(opts[k]) : opts[k]]),
  );
  const parsed = RetrainParams.safeParse(input);
  if (parsed.success) return { success: true, data: parsed.data };
  return {
    success: false,
    errors: parsed.error.issues.map((issue) => {
      const key = issue.path[0] as RetrainParam;
      return `${retrainFlag(key)} ${issue.message}, got "${String(opts[key])}"`;
    }),
  };
}
