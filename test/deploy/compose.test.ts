/**
 * There is no Docker engine here, so the deployment files are checked for what breaks them in the
 * field: every file a service mounts or copies exists, and the services, the gateway config, the
 * Grafana provisioning and the dashboard agree on hosts, ports, volumes, data source and the
 * documented InfluxDB schema.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../gateway/config.js';

const root = new URL('../..', import.meta.url).pathname;
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const compose = parse(read('docker-compose.yml')) as { services: Record<string, any>; volumes: Record<string, unknown> };
const svc = compose.services;

/** The InfluxDB schema the README documents (measurements and their tag keys). */
const SCHEMA: Record<string, string[]> = {
  equipment: ['gateway', 'site', 'line', 'process', 'device'],
  gateway_status: ['gateway', 'site', 'device'],
  gateway_audit: ['gateway', 'site', 'system', 'device'],
};

function containerPort(mapping: string): number {
  return Number(mapping.split(':').at(-1));
}

describe('docker-compose.yml', () => {
  it('has the four services, each with an image or a build', () => {
    expect(Object.keys(svc).sort()).toEqual(['gateway', 'grafana', 'influxdb', 'mosquitto']);
    for (const [name, s] of Object.entries(svc)) expect(s.image ?? s.build, name).toBeTruthy();
    expect(svc.influxdb.image).toMatch(/^influxdb:1\.8/);
  });

  it('every bind-mounted file or folder exists, every named volume is declared', () => {
    for (const [name, s] of Object.entries(svc)) {
      for (const v of (s.volumes ?? []) as string[]) {
        const src = v.split(':')[0]!;
        if (src.startsWith('./')) expect(existsSync(join(root, src)), `${name}: ${src}`).toBe(true);
        else expect(compose.volumes, `${name}: volume ${src}`).toHaveProperty(src);
      }
    }
  });

  it('the gateway image builds from files that exist, runs as non-root with a health check', () => {
    const df = read(svc.gateway.build.dockerfile).replace(/\\\n\s*/g, '');
    for (const m of df.matchAll(/^COPY (?!--from)(.+)$/gm)) {
      const parts = m[1]!.trim().split(/\s+/);
      for (const src of parts.slice(0, -1)) expect(existsSync(join(root, svc.gateway.build.context, src)), `COPY ${src}`).toBe(true);
    }
    expect(df).toMatch(/^FROM .* AS build$/m);
    expect(df).toMatch(/^USER node$/m);
    expect(df).toMatch(/^HEALTHCHECK .*health\/live/m);
    // what the compiled code reads from the source tree at run time is in the runtime stage: the
    // dashboard's and the hub's pages (gateway/dashboard/index.ts, gateway/hub/static.ts), the policy
    const runtime = df.slice(df.lastIndexOf('\nFROM '));
    const copied = [...runtime.matchAll(/^COPY --from=build \/app\/(\S+) /gm)].map((m) => m[1]!);
    for (const needed of ['gateway/dashboard/static', 'gateway/hub/static', 'config/policy']) {
      expect(
        copied.some((c) => needed === c || needed.startsWith(`${c}/`)),
        `the image has ${needed}`,
      ).toBe(true);
    }
  });

  it('the gateway config it mounts is valid and points at the compose services', () => {
    const mount = (svc.gateway.volumes as string[]).find((v) => v.includes('/etc/fgw/gateway.yaml'))!;
    const file = join(root, mount.split(':')[0]!);
    const { config } = loadConfig(file, {
      MES_TOKEN: 'a-long-mes-token',
      OPERATOR_TOKEN: 'a-long-operator-token',
      INFLUX_URL: svc.gateway.environment.INFLUX_URL,
    });
    const influxUrl = new URL(config.influx!.url);
    expect(svc).toHaveProperty(influxUrl.hostname);
    expect((svc.influxdb.ports as string[]).map(containerPort)).toContain(Number(influxUrl.port));
    expect(config.influx!.database).toBe(svc.influxdb.environment.INFLUXDB_DB);
    // the data directory is the mounted volume
    expect((svc.gateway.volumes as string[]).some((v) => v.endsWith(`:${config.storage.path}`))).toBe(true);
    // the API port is published and is the one the health check asks
    const apiPort = Number(config.http.listen.split(':').at(-1));
    expect((svc.gateway.ports as string[]).map(containerPort)).toContain(apiPort);
    expect(read(svc.gateway.build.dockerfile)).toContain(`127.0.0.1:${apiPort}/health/live`);
    // listening on all interfaces is only allowed with tokens
    expect(config.http.tokens.length).toBeGreaterThan(0);
    // MQTT devices use the compose broker on its configured listener
    const listener = /^listener (\d+)/m.exec(read('config/deploy/mosquitto.conf'))!;
    for (const d of config.devices.filter((x) => x.protocol === 'mqtt')) {
      const u = new URL((d as unknown as { connection: { url: string } }).connection.url);
      expect(u.hostname).toBe('mosquitto');
      expect(u.port).toBe(listener[1]);
    }
  });

  it('the broker keeps far more than 1000 queued QoS 1 messages per client and persists sessions', () => {
    const conf = read('config/deploy/mosquitto.conf');
    expect(Number(/^max_queued_messages (\d+)/m.exec(conf)?.[1])).toBeGreaterThan(100_000);
    expect(conf).toMatch(/^persistence true/m);
    const dataDir = /^persistence_location (.+)$/m.exec(conf)![1]!.replace(/\/$/, '');
    expect((svc.mosquitto.volumes as string[]).some((v) => v.endsWith(`:${dataDir}`))).toBe(true);
  });
});

describe('Grafana provisioning', () => {
  const ds = parse(read('config/deploy/grafana/provisioning/datasources/influxdb.yaml')).datasources[0];
  const provider = parse(read('config/deploy/grafana/provisioning/dashboards/fgw.yaml')).providers[0];
  const dashboard = JSON.parse(read('config/deploy/grafana/dashboards/fgw-line.json'));

  it('the data source points at the compose InfluxDB and the gateway database', () => {
    const u = new URL(ds.url);
    expect(svc).toHaveProperty(u.hostname);
    expect((svc.influxdb.ports as string[]).map(containerPort)).toContain(Number(u.port));
    const { config } = loadConfig(join(root, 'config/deploy/gateway.yaml'), { MES_TOKEN: 'a-long-mes-token', OPERATOR_TOKEN: 'a-long-operator-token' });
    expect(ds.jsonData.dbName).toBe(config.influx!.database);
  });

  it('the dashboard provider reads the folder Grafana mounts', () => {
    expect((svc.grafana.volumes as string[]).some((v) => v.endsWith(`:${provider.options.path}:ro`))).toBe(true);
    expect((svc.grafana.volumes as string[]).some((v) => v.endsWith(':/etc/grafana/provisioning:ro'))).toBe(true);
  });

  it('every panel uses the provisioned data source and only documented measurements and tags', () => {
    const queries: string[] = [];
    const walk = (o: any) => {
      if (!o || typeof o !== 'object') return;
      if (o.datasource && typeof o.datasource === 'object') expect(o.datasource.uid).toBe(ds.uid);
      if (typeof o.query === 'string') queries.push(o.query);
      for (const v of Object.values(o)) walk(v);
    };
    walk(dashboard);
    expect(queries.length).toBeGreaterThan(3);
    for (const q of queries) {
      const measurements = [...q.matchAll(/FROM "([^"]+)"/g)].map((m) => m[1]!);
      expect(measurements.length, q).toBeGreaterThan(0);
      for (const m of measurements) {
        expect(Object.keys(SCHEMA), q).toContain(m);
        const tags = [...q.matchAll(/(?:GROUP BY .*?|AND |WITH KEY = )"(\w+)"\s*(?:=~|=|,|$|\))/g)].map((x) => x[1]!);
        for (const t of tags.filter((x) => !/^(time)$/.test(x))) expect(SCHEMA[m], `${t} in ${q}`).toContain(t);
      }
    }
  });
});
