import 'reflect-metadata';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PATH_METADATA } from '@nestjs/common/constants';
import { parseAllDocuments } from 'yaml';
import { ENV_KEYS, isRole, loadConfig } from '../src/config';
import { HealthController } from '../src/health/health.controller';
import { SluiceMetrics } from '../libs/telemetry/src/metrics';
import { REPO_ROOT } from './support/paths';

/**
 * The deploy manifests cannot run here; this keeps them consistent with the code: every YAML
 * parses, every environment variable is one the zod schema knows (or a standard OTEL_* key, read
 * by the OpenTelemetry SDK itself), every Sluice configuration passes the same validation as at
 * boot, probes hit routes the health controller serves, ports agree with PORT.
 */
const DEPLOY = join(REPO_ROOT, 'deploy');
const KNOWN = new Set<string>(ENV_KEYS);
const isKnownKey = (key: string) => KNOWN.has(key) || /^OTEL_[A-Z0-9_]+$/.test(key);

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

function load(path: string): Doc[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'), { merge: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    expect({ file: relative(REPO_ROOT, path), errors: doc.errors.map(String) }).toEqual({
      file: relative(REPO_ROOT, path),
      errors: [],
    });
  }
  return list.map((doc) => doc.toJS() as Doc).filter((doc) => doc !== null);
}

/** Routes of the health controller, e.g. /health/live. */
function healthRoutes(): string[] {
  const base = Reflect.getMetadata(PATH_METADATA, HealthController) as string;
  const proto = HealthController.prototype as unknown as Record<string, unknown>;
  return Object.getOwnPropertyNames(proto)
    .map((name) => Reflect.getMetadata(PATH_METADATA, proto[name] as object) as string | undefined)
    .filter((path): path is string => path !== undefined)
    .map((path) => `/${base}/${path}`);
}

/** What `docker compose` would put for ${NAME} / ${NAME:?message}: sample values of the test. */
const COMPOSE_VARIABLES: Record<string, string> = {
  SLUICE_API_TOKENS: `ops:admin:${'ab'.repeat(32)}`,
  SLUICE_SECRETS_KEY: 'cd'.repeat(32),
};

/** Keys whose values are secrets: never a value in a manifest, only a reference to a secret. */
const SECRET_KEYS = [
  'REDIS_URL',
  'CLICKHOUSE_PASSWORD',
  'API_TOKENS',
  'SECRETS_KEY',
  'SECRETS_KEY_PREVIOUS',
  'METRICS_TOKEN',
];

/** What an operator's secrets.env would hold: sample values of the test. */
const SECRET_SAMPLES: Record<string, string> = {
  REDIS_URL: 'redis://:sample@redis:6379',
  CLICKHOUSE_PASSWORD: 'sample',
  API_TOKENS: `ops:admin:${'ab'.repeat(32)}`,
  SECRETS_KEY: 'cd'.repeat(32),
};

/** The keys deploy/k8s/secrets.env.example lists, set or commented out (optional ones). */
function exampleSecretKeys(): string[] {
  const text = readFileSync(join(DEPLOY, 'k8s', 'secrets.env.example'), 'utf8');
  return [...text.matchAll(/^#? ?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
}
function interpolate(value: string): string {
  return value.replace(/\$\{(\w+)(?::\?[^}]*)?\}/g, (_, key: string) => {
    expect({ key, known: key in COMPOSE_VARIABLES }).toEqual({ key, known: true });
    return COMPOSE_VARIABLES[key]!;
  });
}

/** Validated like a process at boot; throws ConfigError naming every bad key. */
function validate(env: Record<string, string>, where: string) {
  const unknown = Object.keys(env).filter((key) => !isKnownKey(key));
  expect({ where, unknown }).toEqual({ where, unknown: [] });
  return loadConfig(env);
}

describe('deploy manifests', () => {
  const routes = healthRoutes();

  it('serves the probe routes the manifests use', () => {
    expect(routes).toEqual(expect.arrayContaining(['/health/live', '/health/ready']));
  });

  it('every YAML file under deploy/ parses', () => {
    const files = yamlFiles(DEPLOY);
    expect(files.length).toBeGreaterThanOrEqual(9);
    for (const file of files) expect(load(file).length).toBeGreaterThan(0);
  });

  it('docker-compose: servers, Sluice per role with known env keys, scalable, probes on PORT', () => {
    const [compose] = load(join(DEPLOY, 'docker-compose.yml')) as [Doc];
    const services = compose.services as Record<string, Doc>;
    for (const name of ['kafka', 'redis', 'clickhouse', 'jaeger', 'prometheus']) {
      expect(services[name]).toBeDefined();
    }
    expect(services.kafka!.environment.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect((services.redis!.command as string[]).join(' ')).toMatch(
      /--appendonly yes --appendfsync (always|everysec)/,
    );
    expect((services.jaeger!.ports as string[]).join(' ')).toMatch(/4317:4317.*4318:4318/);

    const sluice = Object.entries(services).filter(([name]) => name.startsWith('sluice-'));
    const roles = sluice.map(([, s]) => String(s.environment.ROLES)).sort();
    expect(roles).toEqual(['consumer', 'owner', 'writer']);
    for (const [name, service] of sluice) {
      // Tokens and the secrets key come from the environment of `docker compose`, never the file.
      expect(String(service.environment.API_TOKENS)).toMatch(/^\$\{SLUICE_API_TOKENS:\?.+\}$/);
      expect(String(service.environment.SECRETS_KEY)).toMatch(/^\$\{SLUICE_SECRETS_KEY:\?.+\}$/);
      const env = Object.fromEntries(
        Object.entries(service.environment as Record<string, unknown>).map(([k, v]) => [
          k,
          interpolate(String(v)),
        ]),
      );
      const config = validate(env, name);
      expect(config.roles.every(isRole)).toBe(true);
      // --scale needs no fixed container name and a host port range (or none).
      expect(service.container_name).toBeUndefined();
      for (const mapping of service.ports ?? []) {
        expect(String(mapping)).toMatch(new RegExp(`^\\d+-\\d+:${config.port}$`));
      }
      expect(service.expose).toEqual([String(config.port)]);
      const check = (service.healthcheck.test as string[]).join(' ');
      const url = /http:\/\/127\.0\.0\.1:(\d+)(\/\S+?)'/.exec(check);
      expect(Number(url?.[1])).toBe(config.port);
      expect(routes).toContain(url?.[2]);
      expect(service.build.dockerfile).toBe('deploy/Dockerfile');
      // Long enough for the shutdown deadline: owners flush and release their actors.
      expect(parseInt(String(service.stop_grace_period), 10) * 1000).toBeGreaterThan(
        config.shutdownTimeoutMs,
      );
    }
  });

  it('prometheus scrapes /metrics of every Sluice service on PORT', () => {
    const [compose] = load(join(DEPLOY, 'docker-compose.yml')) as [Doc];
    const sluice = Object.keys(compose.services as Doc).filter((n) => n.startsWith('sluice-'));
    const port = Number((compose.services as Doc)['sluice-owner'].environment.PORT);
    const [prometheus] = load(join(DEPLOY, 'prometheus', 'prometheus.yml')) as [Doc];
    const job = (prometheus.scrape_configs as Doc[]).find((j) => j.job_name === 'sluice')!;
    expect(job.metrics_path).toBe('/metrics');
    const sd = job.dns_sd_configs[0] as Doc;
    expect([...sd.names].sort()).toEqual(sluice.sort());
    expect(sd.port).toBe(port);
  });

  it('ships alert rules that Prometheus loads, naming only metrics Sluice exports', async () => {
    const [compose] = load(join(DEPLOY, 'docker-compose.yml')) as [Doc];
    const [prometheus] = load(join(DEPLOY, 'prometheus', 'prometheus.yml')) as [Doc];
    const mounted = (compose.services as Doc).prometheus.volumes as string[];
    for (const file of prometheus.rule_files as string[]) {
      expect(mounted).toContain(`./prometheus/${file.split('/').pop()}:${file}:ro`);
    }
    const [alerts] = load(join(DEPLOY, 'prometheus', 'alerts.yml')) as [Doc];
    const rules = (alerts.groups as Doc[]).flatMap((g) => g.rules as Doc[]);
    const exported = new Set(
      (
        await new SluiceMetrics({
          defaultMetrics: false,
          eventLoopDelay: true,
        }).registry.getMetricsAsJSON()
      ).map((m) => m.name),
    );
    const named = new Set<string>();
    for (const rule of rules) {
      expect(rule).toEqual(
        expect.objectContaining({
          alert: expect.stringMatching(/^Sluice[A-Za-z]+$/),
          expr: expect.any(String),
          labels: { severity: expect.stringMatching(/^(critical|warning|info)$/) },
          annotations: expect.objectContaining({ summary: expect.any(String) }),
        }),
      );
      for (const [name] of (rule.expr as string).matchAll(/\bsluice_[a-z0-9_]+/g)) {
        named.add(name.replace(/_(bucket|count|sum)$/, ''));
      }
    }
    expect([...named].filter((n) => !exported.has(n))).toEqual([]);
    // What the reliability review asked to alert on is covered.
    for (const family of [
      'sluice_checkpoint_failures_total',
      'sluice_mailbox_append_failures_total',
      'sluice_outbox_oldest_age_seconds',
      'sluice_partition_held',
      'sluice_source_offset_resets_total',
      'sluice_events_dead_lettered_total',
    ]) {
      expect(named).toContain(family);
    }
  });

  it('k8s: a Deployment per role, known env keys, probes, ports, Service and HPAs agree', () => {
    const docs = yamlFiles(join(DEPLOY, 'k8s')).flatMap(load);
    const ofKind = (kind: string) => docs.filter((d) => d.kind === kind);
    const configMaps = new Map(ofKind('ConfigMap').map((d) => [d.metadata.name, d.data as Doc]));
    // No secret value in the manifests: no Secret object, no secret key in a ConfigMap.
    expect(ofKind('Secret')).toEqual([]);
    for (const [name, data] of configMaps) {
      expect({ name, secrets: Object.keys(data).filter((k) => SECRET_KEYS.includes(k)) }).toEqual({
        name,
        secrets: [],
      });
    }
    // The Secret is generated from secrets.env, git-ignored, whose example lists every key used.
    const [kustomization] = load(join(DEPLOY, 'k8s', 'kustomization.yaml')) as [Doc];
    expect(kustomization.secretGenerator).toEqual([
      { name: 'sluice-secrets', envs: ['secrets.env'] },
    ]);
    expect(readFileSync(join(REPO_ROOT, '.gitignore'), 'utf8')).toMatch(
      /^deploy\/k8s\/secrets\.env$/m,
    );
    const exampleKeys = exampleSecretKeys();
    const deployments = ofKind('Deployment');
    const roles: string[] = [];
    for (const deployment of deployments) {
      const name = deployment.metadata.name as string;
      const pod = deployment.spec.template.spec as Doc;
      expect(deployment.spec.selector.matchLabels).toEqual(
        expect.objectContaining(deployment.spec.template.metadata.labels),
      );
      const [container] = pod.containers as [Doc];
      const env: Record<string, string> = {};
      for (const from of container.envFrom ?? []) {
        const source = configMaps.get(from.configMapRef?.name);
        expect({ name, missing: source === undefined }).toEqual({ name, missing: false });
        for (const [k, v] of Object.entries(source!)) env[k] = String(v);
      }
      const fromSecrets: string[] = [];
      for (const item of container.env ?? []) {
        const ref = item.valueFrom?.secretKeyRef as Doc | undefined;
        if (ref) {
          expect({
            name,
            key: ref.key,
            secret: ref.name,
            listed: exampleKeys.includes(String(ref.key)),
          }).toEqual({ name, key: item.name, secret: 'sluice-secrets', listed: true });
          fromSecrets.push(item.name as string);
          // An optional key is left unset, as when the Secret does not hold it.
          if (!ref.optional) env[item.name] = SECRET_SAMPLES[ref.key as string] ?? 'missing-sample';
          continue;
        }
        expect({ name, secretAsValue: SECRET_KEYS.includes(String(item.name)) }).toEqual({
          name,
          secretAsValue: false,
        });
        // Values from the downward API are placeholders here; their keys are checked all the same.
        env[item.name] = item.value !== undefined ? String(item.value) : 'from-field';
      }
      expect({ name, fromSecrets: fromSecrets.sort() }).toEqual({
        name,
        fromSecrets: [...SECRET_KEYS].sort(),
      });
      const config = validate(env, name);
      // Every process of the cluster takes tokens: its clients are not on the pod's loopback.
      expect({ name, mode: config.api.mode }).toEqual({ name, mode: 'tokens' });
      roles.push(...config.roles);
      const http = (container.ports as Doc[]).find((p) => p.name === 'http');
      expect(http?.containerPort).toBe(config.port);
      for (const probe of ['readinessProbe', 'livenessProbe']) {
        expect(routes).toContain(container[probe].httpGet.path);
        expect(container[probe].httpGet.port).toBe('http');
      }
      expect(container.readinessProbe.httpGet.path).toBe('/health/ready');
      expect(container.livenessProbe.httpGet.path).toBe('/health/live');
      expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.shutdownTimeoutMs);
    }
    expect(roles.sort()).toEqual(['consumer', 'owner', 'writer']);

    const [service] = ofKind('Service') as [Doc];
    expect(service.spec.ports[0].targetPort).toBe('http');
    for (const deployment of deployments) {
      expect(deployment.spec.template.metadata.labels).toEqual(
        expect.objectContaining(service.spec.selector),
      );
    }
    const scaled = ofKind('HorizontalPodAutoscaler').map(
      (h) => h.spec.scaleTargetRef.name as string,
    );
    expect(scaled.sort()).toEqual(['sluice-owner', 'sluice-writer']);
    const names = deployments.map((d) => d.metadata.name as string);
    for (const target of scaled) expect(names).toContain(target);
  });

  it('the Dockerfile exposes PORT and runs the compiled main', () => {
    const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
    const [compose] = load(join(DEPLOY, 'docker-compose.yml')) as [Doc];
    const port = (compose.services as Doc)['sluice-owner'].environment.PORT as string;
    expect(dockerfile).toMatch(new RegExp(`^EXPOSE ${port}$`, 'm'));
    expect(dockerfile).toMatch(/^CMD \["node", "dist\/src\/main\.js"\]$/m);
  });
});
