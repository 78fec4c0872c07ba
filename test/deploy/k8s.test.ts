// The Kubernetes manifests of deploy/k8s, validated against the Kubernetes API schemas that the npm
// package kubernetes-models carries (the same JSON schemas kubectl's server-side validation uses),
// plus the wiring hwr depends on: probes, the database Secret, the models volume, the HPA target.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const DIR = fileURLToPath(new URL('../../deploy/k8s', import.meta.url));
const SCHEMAS: Record<string, new (o: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'batch/v1/Job': Job,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Secret': Secret,
  'v1/Service': Service,
};

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML checked field by field below
type Manifest = Record<string, any>;
const manifests: { file: string; doc: Manifest }[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .flatMap((file) =>
    parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
      return { file, doc: d.toJS() as Manifest };
    }),
  );
const find = (kind: string, name?: string) =>
  manifests.map((m) => m.doc).find((d) => d.kind === kind && (!name || d.metadata.name === name)) as Manifest;

describe('deploy/k8s', () => {
  it('every manifest is valid against its Kubernetes API schema', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(8);
    for (const { file, doc } of manifests) {
      const Schema = SCHEMAS[`${doc.apiVersion}/${doc.kind}`];
      expect(Schema, `${file}: ${doc.apiVersion} ${doc.kind}`).toBeDefined();
      expect(() => new Schema(doc as never).validate(), file).not.toThrow();
    }
  });

  it('wires the web Deployment to its probes, the database Secret and the models volume', () => {
    const web = find('Deployment', 'hwr-web');
    const pod = web.spec.template.spec;
    const c = pod.containers[0];
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    const dbEnv = c.env.find((e: Manifest) => e.name === 'HWR_DATABASE_URL');
    const secret = find('Secret', dbEnv.valueFrom.secretKeyRef.name);
    expect(secret.stringData[dbEnv.valueFrom.secretKeyRef.key]).toMatch(/^postgresql:\/\//);
    const models = pod.volumes.find((v: Manifest) => v.name === 'models');
    expect(find('PersistentVolumeClaim', models.persistentVolumeClaim.claimName).spec.accessModes).toContain(
      'ReadWriteMany',
    );
    expect(c.volumeMounts.find((m: Manifest) => m.name === 'models')).toMatchObject({
      mountPath: '/models',
      readOnly: true,
    });
    expect(find('Service').spec.selector).toEqual(web.spec.selector.matchLabels);
    const hpa = find('HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef.name).toBe('hwr-web');
    expect(hpa.spec.metrics[0].resource.name).toBe('cpu');
  });

  it('has a retrain Job that reads the feedback from the database and promotes through it', () => {
    const job = manifests
      .map((m) => m.doc)
      .find((d) => d.kind === 'Job' && d.metadata.generateName) as Manifest;
    const c = job.spec.template.spec.containers[0];
    expect(c.args.slice(0, 5)).toEqual(['retrain', '--base', '/models/digits', '--feedback', 'database']);
    expect(c.args).toContain('--promote');
    expect(c.env.map((e: Manifest) => e.name)).toContain('HWR_DATABASE_URL');
  });
});
