import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MetricsExporter } from '../../src/metrics/exporter.js';

const root = new URL('../../../grafana/', import.meta.url);
const files = readdirSync(new URL('dashboards/', root)).filter((f) => f.endsWith('.json'));
const DS_UID = '${datasource}';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const load = (f: string): Json => JSON.parse(readFileSync(new URL(`dashboards/${f}`, root), 'utf8')) as Json;

/** Every panel, including those nested in collapsed rows. */
const allPanels = (d: Json): Json[] => (d.panels ?? []).flatMap((p: Json) => [p, ...(p.panels ?? [])]);
/** Every PromQL string: panel targets and query variables. */
function exprs(d: Json): string[] {
  const out: string[] = [];
  for (const p of allPanels(d)) for (const t of p.targets ?? []) if (t.expr) out.push(t.expr);
  for (const v of d.templating?.list ?? []) if (v.type === 'query') out.push(typeof v.query === 'string' ? v.query : v.query.query);
  return out;
}

const PROMQL_WORDS = new Set([
  'sum', 'avg', 'min', 'max', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'group', 'count_values',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset',
  'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'histogram_quantile', 'abs', 'clamp_min', 'clamp_max',
  'label_values', 'label_replace', 'vector', 'scalar', 'time', 'absent', 'changes', 'resets', 'avg_over_time',
  'max_over_time', 'min_over_time', 'sum_over_time', 'last_over_time', 'round', 'ceil', 'floor', 'sort', 'sort_desc',
]);

/** Metric names an expression reads: identifiers left after dropping strings, matchers, ranges and grouping clauses. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\w+/g, ' ');
  // label_values(metric, label): the second argument is a label.
  const lv = /label_values\(\s*([a-zA-Z_:][\w:]*)?(?:[^{},]|\{[^}]*\})*,\s*(\w+)\s*\)/.exec(expr);
  const ids = stripped.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  return ids.filter((id) => !PROMQL_WORDS.has(id) && !/^\d/.test(id) && id !== lv?.[2]);
}

async function registryNames(): Promise<Set<string>> {
  // As the CLI serves it: with prom-client's process_* metrics.
  const exp = new MetricsExporter({ defaultMetrics: true });
  const names = new Set<string>();
  for (const m of await exp.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if ((m.type as unknown as string) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
  }
  await exp.close();
  return names;
}

test('there is at least the overview dashboard', (t) => {
  t.true(files.includes('mxl-fabrics.json'));
});

test('dashboards are valid JSON with unique uids, id null and a fixed schemaVersion', (t) => {
  const uids = new Set<string>();
  for (const f of files) {
    const d = load(f);
    t.is(d.id, null, f);
    t.regex(d.uid, /^[a-zA-Z0-9_-]{1,40}$/, f);
    t.false(uids.has(d.uid), `${f}: duplicate uid ${d.uid}`);
    uids.add(d.uid);
    t.true(Number.isInteger(d.schemaVersion) && d.schemaVersion >= 36, `${f}: schemaVersion`);
    t.truthy(d.title, f);
  }
});

test('datasource comes from one `datasource` variable; no __inputs or ${DS_...}', (t) => {
  for (const f of files) {
    const text = readFileSync(new URL(`dashboards/${f}`, root), 'utf8');
    const d = load(f);
    t.false('__inputs' in d, `${f}: __inputs`);
    t.notRegex(text, /\$\{DS_/, `${f}: unresolved \${DS_...}`);
    const dsVars = (d.templating?.list ?? []).filter((v: Json) => v.type === 'datasource');
    t.is(dsVars.length, 1, `${f}: datasource variables`);
    t.is(dsVars[0].name, 'datasource');
    t.is(dsVars[0].query, 'prometheus');
    const check = (where: string, ds: Json | undefined) => t.deepEqual(ds, { type: 'prometheus', uid: DS_UID }, where);
    for (const p of allPanels(d)) {
      if (p.type === 'row') continue;
      check(`${f} panel ${p.title}`, p.datasource);
      t.true((p.targets ?? []).length > 0, `${f} panel ${p.title} has no targets`);
      for (const tg of p.targets ?? []) check(`${f} panel ${p.title} target ${tg.refId}`, tg.datasource);
    }
    for (const v of d.templating.list) if (v.type === 'query') check(`${f} variable ${v.name}`, v.datasource);
  }
});

test('every panel has a unit and unique id', (t) => {
  for (const f of files) {
    const ids = new Set<number>();
    for (const p of allPanels(load(f))) {
      t.false(ids.has(p.id), `${f}: duplicate panel id ${p.id}`);
      ids.add(p.id);
      if (p.type === 'row') continue;
      const unit = p.fieldConfig?.defaults?.unit;
      t.true(typeof unit === 'string' && unit.length > 0, `${f} panel ${p.title}: no unit`);
    }
  }
});

test('rate/increase use $__rate_interval and histogram_quantile reads _bucket by le', (t) => {
  for (const f of files) {
    for (const e of exprs(load(f))) {
      for (const m of e.matchAll(/\b(rate|irate|increase)\s*\(/g)) {
        // The range of this call: the first [...] after it.
        const range = /\[([^\]]*)\]/.exec(e.slice(m.index));
        t.is(range?.[1], '$__rate_interval', `${f}: ${e}`);
      }
      for (const m of e.matchAll(/histogram_quantile\s*\(/g)) {
        const rest = e.slice(m.index);
        t.regex(rest, /^histogram_quantile\s*\(\s*0?\.\d+\s*,\s*sum by \([^)]*\ble\b[^)]*\) \(rate\([a-z_:]+_bucket\{/, `${f}: ${e}`);
      }
    }
  }
});

test('every metric a dashboard reads exists in the exporter registry', async (t) => {
  const names = await registryNames();
  t.true(names.has('mxl_fabrics_grain_latency_seconds_bucket'));
  const used = new Set<string>();
  for (const f of files) {
    for (const e of exprs(load(f))) {
      const ms = metricNames(e);
      t.true(ms.length > 0, `${f}: no metric in ${e}`);
      for (const m of ms) {
        used.add(m);
        t.true(names.has(m), `${f}: ${m} is not exported (in ${e})`);
      }
    }
  }
  // The extractor is live: it sees names and would flag a stale one.
  t.deepEqual(metricNames('sum by (le) (rate(mxl_fabrics_gone_seconds_bucket{role="x"}[$__rate_interval]))'), ['mxl_fabrics_gone_seconds_bucket']);
  t.true(used.has('mxl_fabrics_grains_total') && used.has('mxl_fabrics_bytes_total'));
});

test('provisioning files point at the datasource and the dashboards folder', (t) => {
  const ds = readFileSync(new URL('provisioning/datasources/prometheus.yaml', root), 'utf8');
  t.regex(ds, /^apiVersion: 1$/m);
  t.regex(ds, /^\s+type: prometheus$/m);
  t.regex(ds, /^\s+uid: [\w-]+$/m);
  const dash = readFileSync(new URL('provisioning/dashboards/mxl.yaml', root), 'utf8');
  t.regex(dash, /^apiVersion: 1$/m);
  t.regex(dash, /^\s+type: file$/m);
  t.regex(dash, /^\s+path: \/var\/lib\/grafana\/dashboards\/mxl$/m);
  const prom = readFileSync(new URL('prometheus.yml', root), 'utf8');
  t.regex(prom, /127\.0\.0\.1:9464/);
  t.regex(prom, /file_sd_configs:\n\s+- files: \['targets\/\*\.json'\]/);
  const sd = JSON.parse(readFileSync(new URL('targets/example.json', root), 'utf8')) as Json[];
  t.true(sd.length >= 2 && sd.every((g) => Array.isArray(g.targets) && g.targets.every((x: string) => /^[\w.-]+:\d+$/.test(x))));
});

test('job, instance, role and endpoint variables chain, and every panel query filters on all four', (t) => {
  for (const f of files) {
    const d = load(f);
    const vars = (d.templating.list as Json[]).filter((v) => v.type === 'query');
    t.deepEqual(vars.map((v) => v.name), ['job', 'instance', 'role', 'endpoint'], f);
    t.regex(vars[1].query.query, /\{job=~"\$job"\}/);
    t.regex(vars[3].query.query, /instance=~"\$instance".*role=~"\$role"/);
    for (const p of allPanels(d)) {
      for (const tg of p.targets ?? []) {
        const e = tg.expr as string;
        t.regex(e, /job=~"\$job",instance=~"\$instance"/, `${f} ${p.title}: ${e}`);
        if (/mxl_fabrics_/.test(e)) t.regex(e, /role=~"\$role",endpoint=~"\$endpoint"/, `${f} ${p.title}: ${e}`);
      }
    }
  }
});

test('every grouped aggregation keeps instance (two processes never merge into one line); only stat totals drop it', (t) => {
  for (const f of files) {
    for (const p of allPanels(load(f))) {
      for (const tg of p.targets ?? []) {
        const e = tg.expr as string;
        const groups = [...e.matchAll(/\b(?:sum|max|min|avg|count) by \(([^)]*)\)/g)].map((m) => m[1]);
        if (p.type === 'stat') continue; // a single number over the selection, on purpose
        t.true(groups.length > 0, `${f} ${p.title}: ungrouped aggregation in ${e}`);
        for (const g of groups) t.true(g.split(',').map((x) => x.trim()).includes('instance'), `${f} ${p.title}: by (${g}) drops instance`);
        t.regex(tg.legendFormat, /\{\{instance\}\}/, `${f} ${p.title}: legend without instance`);
      }
    }
  }
});

test('throughput is drawn in bits per second', (t) => {
  const d = load('mxl-fabrics.json');
  const bits = allPanels(d).filter((p) => (p.targets ?? []).some((x: Json) => /mxl_fabrics_bytes_total/.test(x.expr)));
  t.true(bits.length >= 2);
  for (const p of bits) {
    t.is(p.fieldConfig.defaults.unit, 'bps', p.title);
    for (const x of p.targets) t.regex(x.expr, /\* 8$/, p.title);
  }
});

// @grafana/schema ships the dashboard model as TypeScript types (no runtime validator):
// the JSON is compiled as an object literal that must satisfy them, excess-property checks
// included. Enums (ThresholdsMode, ...) are compared by their string values, as JSON holds them.
const TSC = fileURLToPath(new URL('../../../node_modules/typescript/bin/tsc', import.meta.url));
function schemaCheck(dashboard: string): { status: number | null; out: string } {
  const dir = mkdtempSync(path.join(fileURLToPath(new URL('../../', import.meta.url)), 'dashboard-check-'));
  try {
    const file = path.join(dir, 'check.ts');
    writeFileSync(file, `import type { Dashboard } from '@grafana/schema';
type J<T> = T extends string ? \`\${T}\` : T extends readonly (infer U)[] ? J<U>[] : T extends object ? { [K in keyof T]: J<T[K]> } : T;
export const dashboard = (${dashboard.trim()}) satisfies J<Dashboard>;
`);
    const r = spawnSync(process.execPath, [TSC, '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', file], { encoding: 'utf8' });
    return { status: r.status, out: r.stdout + r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('dashboards satisfy the @grafana/schema Dashboard type', (t) => {
  for (const f of files) {
    const r = schemaCheck(readFileSync(new URL(`dashboards/${f}`, root), 'utf8'));
    t.is(r.status, 0, `${f}:\n${r.out}`);
  }
  // The check is live: a wrong field type and an unknown property are both caught.
  const wrongType = load('mxl-fabrics.json');
  wrongType.panels[1].gridPos.h = 'tall';
  const r1 = schemaCheck(JSON.stringify(wrongType));
  t.not(r1.status, 0);
  t.regex(r1.out, /'string' is not assignable to type 'number'/);
  const unknown = load('mxl-fabrics.json');
  unknown.refreshEvery = '5s';
  const r2 = schemaCheck(JSON.stringify(unknown));
  t.not(r2.status, 0);
  t.regex(r2.out, /refreshEvery/);
});
