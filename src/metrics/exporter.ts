/**
 * Main-thread Prometheus exporter: reads each registered endpoint's stats SAB when scraped.
 *
 * Every metric is a small object registered with prom-client's `Registry.registerMetric`
 * whose `get()` walks the registered endpoints and reads their SABs; nothing is copied or
 * pushed between scrapes, so a busy-polling worker costs the exporter nothing until a scrape.
 * The names, types and labels are the contract in docs/metrics.md.
 */
import { readFileSync } from 'node:fs';
import { DROP_REASONS } from '../fabrics/media/drops.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isMainThread } from 'node:worker_threads';
import { Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { FabricsError } from '../errors.js';
import {
  COMPLETION_ERROR_CODES, EndpointStats, LATENCY_BUCKETS_SECONDS, LATENCY_STAGES, LatencyStage,
  PEER_FAILURE_REASONS, SKIP_REASONS, Word, type LatencyStageName,
} from './endpoint-stats.js';

export type EndpointRole = 'target' | 'initiator';
export type MediaKind = 'video' | 'audio' | 'data';

export interface EndpointLabels {
  /** libfabric provider as configured or chosen, e.g. 'tcp;ofi_rxm', 'verbs;ofi_rxm', 'efa', 'shm'. */
  provider: string;
  kind: MediaKind;
  /**
   * The configured flow's UUID. Exported only on mxl_fabrics_endpoint_info, never on the
   * per-grain series (docs/metrics.md, "Label cardinality").
   */
  flowId?: string;
}

export interface MetricsExporterOptions {
  /** Register into this registry (e.g. an application's own); default a new one. */
  registry?: Registry;
  /** Library version for build_info; default this package's version. */
  version?: string;
  /** libfabric version for build_info (the runtime passes `addon().fabricVersion()`); default 'unknown'. */
  libfabricVersion?: string;
  /** Also collect prom-client's default Node metrics, unprefixed (main thread only). Default false. */
  defaultMetrics?: boolean;
  /** Most endpoints exported at once; register() refuses more. Default 256. */
  maxEndpoints?: number;
}

export interface MetricsServerOptions {
  /** Default '127.0.0.1': metrics stay on the host unless asked otherwise. */
  host?: string;
  /** Default 0 (any free port); the demo uses 9464. */
  port?: number;
  /** What GET /readyz reports (the exporter passes its own); without it /readyz is 404. */
  readiness?: () => Readiness;
}

export interface RegisterOptions {
  /** False while the endpoint's worker is not running (failed, restarting); default always true. */
  alive?: () => boolean;
}

/** One endpoint's readiness, as /readyz reports it. */
export interface EndpointReadiness {
  endpoint: string;
  role: EndpointRole;
  ready: boolean;
  /** Why not, in words (absent when ready). */
  reason?: string;
}

export interface Readiness {
  /** True when there is at least one endpoint and every endpoint is ready. */
  ready: boolean;
  endpoints: EndpointReadiness[];
}

/**
 * An initiator's target counts as moving when a write to it completed within this window.
 * Several frame times at any rate, short enough that a dead target turns /readyz within seconds.
 */
export const READY_WINDOW_MS = 3000;

export interface MetricsServer {
  /** Full URL of the metrics path, e.g. http://127.0.0.1:9464/metrics. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** One exported metric family, for the docs table and the tests. */
export interface MetricDescriptor {
  name: string;
  type: MetricType;
  help: string;
  /** Label names beyond none, in exposition order (without `le`). */
  labels: readonly string[];
}

const ENDPOINT_LABELS = ['role', 'endpoint', 'provider', 'kind'] as const;

interface Registered {
  endpoint: string;
  role: EndpointRole;
  stats: EndpointStats;
  alive: () => boolean;
  labels: Record<(typeof ENDPOINT_LABELS)[number], string>;
  flowId?: string;
}

type Value = { value: number; labels: Record<string, string | number>; metricName?: string };

/** Scalar SAB words exported one series per endpoint. */
type Roles = readonly EndpointRole[];
const BOTH: Roles = ['target', 'initiator'];
const INI: Roles = ['initiator'];
const TGT: Roles = ['target'];
const SCALARS: ReadonlyArray<{ name: string; type: 'counter' | 'gauge'; word: number; help: string; roles?: Roles }> = [
  { name: 'mxl_fabrics_grains_total', type: 'counter', word: Word.GRAINS, help: 'Whole discrete grains (video, data) transferred by an initiator or received by a target.' },
  { name: 'mxl_fabrics_slices_total', type: 'counter', word: Word.SLICES, help: 'Partial-grain (slice range) transfers.' },
  { name: 'mxl_fabrics_samples_total', type: 'counter', word: Word.SAMPLES, help: 'Audio samples (per channel) transferred or received.' },
  { name: 'mxl_fabrics_sample_batches_total', type: 'counter', word: Word.SAMPLE_BATCHES, help: 'Audio transfers (contiguous sample ranges).' },
  { name: 'mxl_fabrics_bytes_total', type: 'counter', word: Word.BYTES, help: 'Payload bytes transferred or received.' },
  { name: 'mxl_fabrics_commits_total', type: 'counter', word: Word.COMMITS, help: 'Grains or sample batches a target committed into its local flow.', roles: TGT },
  { name: 'mxl_fabrics_writes_deferred_total', type: 'counter', word: Word.WRITES_DEFERRED, help: 'Writes the provider refused with FI_EAGAIN and the initiator queued for its next progress call.', roles: INI },
  { name: 'mxl_fabrics_overruns_total', type: 'counter', word: Word.OVERRUNS, help: 'Transfers that completed after their source slot was overwritten (the target may hold a torn grain).', roles: INI },
  { name: 'mxl_fabrics_torn_grains_prevented_total', type: 'counter', word: Word.TORN_GRAINS_PREVENTED, help: 'Grains that would have been torn and were not delivered as valid.', roles: BOTH },
  { name: 'mxl_fabrics_reconnects_total', type: 'counter', word: Word.RECONNECTS, help: 'Connections to a target established again after it had been connected before.', roles: INI },
  { name: 'mxl_fabrics_sessions_started_total', type: 'counter', word: Word.SESSIONS_STARTED, help: 'Sessions started with a peer.', roles: BOTH },
  { name: 'mxl_fabrics_sessions_ended_total', type: 'counter', word: Word.SESSIONS_ENDED, help: 'Sessions with a peer that ended.', roles: BOTH },
  { name: 'mxl_fabrics_initiators_refused_total', type: 'counter', word: Word.INITIATORS_REFUSED, help: 'Connection requests a target refused or could not accept.', roles: TGT },
  { name: 'mxl_fabrics_grains_duplicate_total', type: 'counter', word: Word.DUPLICATES, help: 'Copies of a grain range that another connection had already landed (redundant senders); published once.', roles: TGT },
  { name: 'mxl_fabrics_ring_overflow_total', type: 'counter', word: Word.RING_OVERFLOWS, help: 'Notification records lost because the main thread did not drain the worker ring in time.' },
  { name: 'mxl_fabrics_peer_connects_total', type: 'counter', word: Word.PEER_CONNECTS, help: 'Peer connections established.' },
  { name: 'mxl_fabrics_peer_disconnects_total', type: 'counter', word: Word.PEER_DISCONNECTS, help: 'Peer connections lost or closed.' },
  { name: 'mxl_fabrics_poll_iterations_total', type: 'counter', word: Word.POLL_ITERATIONS, help: 'Completion-queue poll loop iterations.' },
  { name: 'mxl_fabrics_poll_busy_iterations_total', type: 'counter', word: Word.POLL_BUSY_ITERATIONS, help: 'Poll loop iterations that reaped at least one completion.' },
  { name: 'mxl_fabrics_peers_connected', type: 'gauge', word: Word.PEERS_CONNECTED, help: 'Peers currently connected.' },
];

const GRAIN_GAUGES: ReadonlyArray<{ name: string; word: number; help: string }> = [
  { name: 'mxl_fabrics_last_grain_index', word: Word.LAST_GRAIN_INDEX, help: 'Index of the latest grain handled (absent until the first grain).' },
  { name: 'mxl_fabrics_flow_lag_grains', word: Word.FLOW_LAG_GRAINS, help: 'Grains the latest handled grain trails the TAI clock (negative = ahead; absent until the first grain).' },
];

/** Histogram stages exported for a role even while empty; others appear once they have samples. */
const STAGES_BY_ROLE: Record<EndpointRole, readonly LatencyStageName[]> = {
  initiator: ['transfer'],
  target: ['commit', 'source'],
};

const ENDPOINT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const PROVIDER_RE = /^[A-Za-z0-9_.+;-]{1,48}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ROLES: readonly string[] = ['target', 'initiator'];
const KINDS: readonly string[] = ['video', 'audio', 'data'];

function packageVersion(): string {
  try {
    // This file is build/src/metrics/exporter.js in the repository and in the package.
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const invalid = (field: string, msg: string): FabricsError => new FabricsError('MXL_ERR_INVALID_ARG', msg, { field });

/** Returns the name if it can be an endpoint label; throws MXL_ERR_INVALID_ARG otherwise. */
export function checkEndpointName(endpoint: string): string {
  if (typeof endpoint !== 'string' || !ENDPOINT_NAME_RE.test(endpoint)) {
    throw invalid('endpoint', `endpoint name ${JSON.stringify(endpoint)} must match ${ENDPOINT_NAME_RE} (it is a metric label)`);
  }
  return endpoint;
}

/** The exporter a CLI process serves: with prom-client's process_* and nodejs_* metrics. */
export function processExporter(libfabricVersion: string): MetricsExporter {
  return new MetricsExporter({ libfabricVersion, defaultMetrics: true });
}

export class MetricsExporter {
  readonly registry: Registry;
  private readonly endpoints = new Map<string, Registered>();
  private readonly maxEndpoints: number;
  private refused = 0;
  private readonly servers = new Set<MetricsServer>();
  private readonly descriptors: MetricDescriptor[] = [];

  constructor(opts: MetricsExporterOptions = {}) {
    this.registry = opts.registry ?? new Registry();
    this.maxEndpoints = opts.maxEndpoints ?? 256;
    const version = opts.version ?? packageVersion();
    const libfabricVersion = opts.libfabricVersion ?? 'unknown';

    this.define('mxl_fabrics_build_info', 'gauge', 'Build information; always 1.', ['version', 'libfabric_version'],
      () => [{ value: 1, labels: { version, libfabric_version: libfabricVersion } }]);
    this.define('mxl_fabrics_endpoint_info', 'gauge', 'One series per registered endpoint, carrying its configured flow id; always 1.',
      [...ENDPOINT_LABELS, 'flow_id'],
      () => this.each((r) => [{ value: 1, labels: r.flowId ? { ...r.labels, flow_id: r.flowId } : r.labels }]));
    this.define('mxl_fabrics_metrics_endpoints_refused_total', 'counter', 'register() calls refused because maxEndpoints endpoints were already exported.', [],
      () => [{ value: this.refused, labels: {} }]);

    for (const s of SCALARS) {
      const roles = s.roles ?? BOTH;
      this.define(s.name, s.type, s.help, ENDPOINT_LABELS, () => this.each((r) => (roles.includes(r.role) ? [{ value: r.stats.read(s.word), labels: r.labels }] : [])));
    }
    const byReason = (name: string, help: string, roles: Roles, reasons: readonly string[], base: number): void => {
      this.define(name, 'counter', help, [...ENDPOINT_LABELS, 'reason'], () => this.each((r) => (roles.includes(r.role)
        ? reasons.map((reason, i) => ({ value: r.stats.read(base + i), labels: { ...r.labels, reason } }))
        : [])));
    };
    byReason('mxl_fabrics_transfers_skipped_total', 'Per-target transfers an initiator did not post, by reason (fixed set).', INI, SKIP_REASONS, Word.SKIPPED);
    byReason('mxl_fabrics_immediates_dropped_total', 'Writes a target dropped, by reason (fixed set).', TGT, DROP_REASONS, Word.DROPS);
    byReason('mxl_fabrics_peer_failures_total', 'Targets an initiator lost or could not reach, by reason (fixed set).', INI, PEER_FAILURE_REASONS, Word.PEER_FAILURES);
    this.define('mxl_fabrics_peer_up', 'gauge', 'Initiator: 1 while the target is connected, else 0 (one series per added target).', [...ENDPOINT_LABELS, 'target_id'],
      () => this.each((r) => r.stats.peers().map((p) => ({ value: p.up ? 1 : 0, labels: { ...r.labels, target_id: p.targetId } }))));
    this.define('mxl_fabrics_peer_completions_total', 'counter', 'Initiator: transfers to the target that completed.', [...ENDPOINT_LABELS, 'target_id'],
      () => this.each((r) => r.stats.peers().map((p) => ({ value: p.completions, labels: { ...r.labels, target_id: p.targetId } }))));
    this.define('mxl_fabrics_peer_last_completion_timestamp_seconds', 'gauge', 'Initiator: Unix time of the latest completed transfer to the target (absent before the first).', [...ENDPOINT_LABELS, 'target_id'],
      () => this.each((r) => r.stats.peers().filter((p) => p.completions > 0).map((p) => ({ value: p.lastCompletionMs / 1000, labels: { ...r.labels, target_id: p.targetId } }))));
    this.define('mxl_fabrics_endpoint_ready', 'gauge', 'Endpoint readiness as /readyz reports it: 1 ready (target listening; initiator: every target connected and completing writes), else 0.', ENDPOINT_LABELS,
      () => this.each((r) => [{ value: this.readinessOf(r).ready ? 1 : 0, labels: r.labels }]));
    for (const g of GRAIN_GAUGES) {
      this.define(g.name, 'gauge', g.help, ENDPOINT_LABELS, () => this.each((r) =>
        r.stats.read(Word.LAST_GRAIN_INDEX) < 0 ? [] : [{ value: r.stats.read(g.word), labels: r.labels }]));
    }
    this.define('mxl_fabrics_completion_errors_total', 'counter', 'Completion-queue errors by class (fixed set of codes).', [...ENDPOINT_LABELS, 'code'],
      () => this.each((r) => COMPLETION_ERROR_CODES.map((code, i) => ({
        value: r.stats.read(Word.COMPLETION_ERRORS + i), labels: { ...r.labels, code },
      }))));
    this.define('mxl_fabrics_grain_latency_seconds', 'histogram',
      'Latency by stage: transfer = initiator post to completion, commit = target arrival to commit, source = grain source timestamp to target arrival.',
      [...ENDPOINT_LABELS, 'stage'], () => this.each((r) => this.histogramValues(r)));

    if (opts.defaultMetrics) {
      if (!isMainThread) throw new FabricsError('MXL_ERR_INVALID_STATE', 'default Node metrics must be collected on the main thread');
      collectDefaultMetrics({ register: this.registry });
    }
  }

  /** The metric families this exporter defines (not the default Node metrics). */
  describe(): readonly MetricDescriptor[] {
    return this.descriptors;
  }

  /**
   * Starts exporting an endpoint's stats. Throws MXL_ERR_INVALID_ARG for a bad name or
   * label and MXL_ERR_EXISTS for a (role, endpoint) already registered; returns false
   * (and counts it) when maxEndpoints are already exported.
   */
  register(endpoint: string, role: EndpointRole, stats: EndpointStats, labels: EndpointLabels, opts: RegisterOptions = {}): boolean {
    checkEndpointName(endpoint);
    if (!ROLES.includes(role)) throw invalid('role', `role must be 'target' or 'initiator', not ${JSON.stringify(role)}`);
    if (!(stats instanceof EndpointStats)) throw invalid('stats', 'stats must be an EndpointStats');
    if (typeof labels?.provider !== 'string' || !PROVIDER_RE.test(labels.provider)) {
      throw invalid('provider', `provider ${JSON.stringify(labels?.provider)} must match ${PROVIDER_RE}`);
    }
    if (!KINDS.includes(labels.kind)) throw invalid('kind', `kind must be video, audio or data, not ${JSON.stringify(labels.kind)}`);
    if (labels.flowId !== undefined && !UUID_RE.test(labels.flowId)) throw invalid('flowId', `flowId ${JSON.stringify(labels.flowId)} is not a UUID`);
    const key = `${role}\0${endpoint}`;
    if (this.endpoints.has(key)) throw new FabricsError('MXL_ERR_EXISTS', `${role} endpoint ${endpoint} is already registered for metrics`, { field: 'endpoint' });
    if (this.endpoints.size >= this.maxEndpoints) {
      this.refused++;
      return false;
    }
    const r: Registered = { endpoint, role, stats, alive: opts.alive ?? (() => true), labels: { role, endpoint, provider: labels.provider, kind: labels.kind } };
    if (labels.flowId !== undefined) r.flowId = labels.flowId.toLowerCase();
    this.endpoints.set(key, r);
    return true;
  }

  /** Throws what register() would for this name and role (bad name, already registered), registering nothing. */
  preflight(endpoint: string, role: EndpointRole): void {
    checkEndpointName(endpoint);
    if (this.endpoints.has(`${role}\0${endpoint}`)) throw new FabricsError('MXL_ERR_EXISTS', `${role} endpoint ${endpoint} is already registered for metrics`, { field: 'endpoint' });
  }

  /** Stops exporting an endpoint (its series vanish from the next scrape). */
  unregister(endpoint: string, role: EndpointRole): boolean {
    return this.endpoints.delete(`${role}\0${endpoint}`);
  }

  /** The text exposition, as served on /metrics. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** Readiness of every registered endpoint (what /readyz serves). */
  readiness(now = Date.now()): Readiness {
    const endpoints = [...this.endpoints.values()].map((r) => this.readinessOf(r, now));
    return { ready: endpoints.length > 0 && endpoints.every((e) => e.ready), endpoints };
  }

  private readinessOf(r: Registered, now = Date.now()): EndpointReadiness {
    const base = { endpoint: r.endpoint, role: r.role };
    if (!r.alive()) return { ...base, ready: false, reason: 'the endpoint worker is not running' };
    if (r.role === 'target') return { ...base, ready: true };
    const peers = r.stats.peers();
    if (peers.length === 0) return { ...base, ready: false, reason: 'no target added' };
    for (const p of peers) {
      if (!p.up) return { ...base, ready: false, reason: `target ${p.targetId} is not connected` };
      if (!(now - p.lastCompletionMs <= READY_WINDOW_MS)) return { ...base, ready: false, reason: `no write to target ${p.targetId} completed in the last ${READY_WINDOW_MS} ms` };
    }
    return { ...base, ready: true };
  }

  /** Serves GET /metrics, /healthz and /readyz from this exporter. */
  async startMetricsServer(opts: MetricsServerOptions = {}): Promise<MetricsServer> {
    const srv = await startMetricsServer(this.registry, { readiness: () => this.readiness(), ...opts });
    this.servers.add(srv);
    return {
      url: srv.url,
      port: srv.port,
      close: () => { this.servers.delete(srv); return srv.close(); },
    };
  }

  /** Closes every server started by this exporter and forgets all endpoints. */
  async close(): Promise<void> {
    const all = [...this.servers];
    this.servers.clear();
    this.endpoints.clear();
    await Promise.all(all.map((s) => s.close()));
  }

  private each(f: (r: Registered) => Value[]): Value[] {
    const out: Value[] = [];
    for (const r of this.endpoints.values()) out.push(...f(r));
    return out;
  }

  private histogramValues(r: Registered): Value[] {
    const name = 'mxl_fabrics_grain_latency_seconds';
    const out: Value[] = [];
    for (const stage of LATENCY_STAGES) {
      const h = r.stats.histogram(LatencyStage[stage]);
      if (h.count === 0 && !STAGES_BY_ROLE[r.role].includes(stage)) continue;
      const labels = { ...r.labels, stage };
      LATENCY_BUCKETS_SECONDS.forEach((le, i) => out.push({ metricName: `${name}_bucket`, value: h.buckets[i], labels: { ...labels, le } }));
      out.push({ metricName: `${name}_bucket`, value: h.count, labels: { ...labels, le: '+Inf' } });
      out.push({ metricName: `${name}_sum`, value: h.sumSeconds, labels });
      out.push({ metricName: `${name}_count`, value: h.count, labels });
    }
    return out;
  }

  private define(name: string, type: MetricType, help: string, labels: readonly string[], values: () => Value[]): void {
    this.descriptors.push({ name, type, help, labels });
    // prom-client renders any object with name/help/type/get(); its typings only admit its own classes.
    const metric = {
      name, help, type, aggregator: 'sum',
      get: async () => ({ name, help, type, aggregator: 'sum', values: values() }),
      reset: () => {},
    };
    this.registry.registerMetric(metric as unknown as Metric);
  }
}

/**
 * Serves `GET /metrics` (and HEAD) from a registry, `/healthz` (200 while the process
 * serves) and `/readyz` (200 or 503 with the readiness as JSON, when `readiness` is given):
 * 404 for other paths, 500 if collection fails.
 */
export function startMetricsServer(registry: Registry, opts: MetricsServerOptions = {}): Promise<MetricsServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) return Promise.reject(invalid('port', `port ${port} is not 0..65535`));

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (get && path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end(req.method === 'HEAD' ? undefined : 'ok\n');
      return;
    }
    if (get && path === '/readyz' && opts.readiness) {
      const r = opts.readiness();
      res.writeHead(r.ready ? 200 : 503, { 'Content-Type': 'application/json' }).end(req.method === 'HEAD' ? undefined : `${JSON.stringify(r)}\n`);
      return;
    }
    if (path !== '/metrics' || !get) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found; metrics are at /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => { res.writeHead(200, { 'Content-Type': registry.contentType }).end(req.method === 'HEAD' ? undefined : body); },
      (e: unknown) => { res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`metrics collection failed: ${String((e as Error)?.message ?? e)}\n`); },
    );
  };

  return new Promise((resolve, reject) => {
    const server: Server = createServer(handler);
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const actual = (server.address() as AddressInfo).port;
      const h = host.includes(':') ? `[${host}]` : host;
      let closing: Promise<void> | undefined;
      resolve({
        url: `http://${h}:${actual}/metrics`,
        port: actual,
        close: () => closing ??= new Promise<void>((done, fail) => {
          server.close((e) => (e ? fail(e) : done()));
          server.closeAllConnections(); // keep-alive sockets would otherwise hold close() open
        }),
      });
    });
  });
}
