/**
 * The runtime's entry point on the main thread. Each target and initiator runs in its own
 * worker thread that polls libfabric; the main thread gets typed async handles, and grain
 * data never passes through JavaScript. Optionally every endpoint is exported as
 * Prometheus metrics.
 */
import { addon } from '../native/index.js';
import { FabricsError } from '../errors.js';
import { MetricsExporter, type MetricsServer } from '../metrics/exporter.js';
import type { ProviderName } from '../fabrics/provider.js';
import { endpointLabels } from '../metrics/endpoint-labels.js';
import type { PollMode } from '../ipc/control-block.js';
import type { EndpointHandle } from './endpoint-handle.js';
import { InitiatorHandle } from './initiator-handle.js';
import { TargetHandle } from './target-handle.js';

export interface EndpointCommonOptions {
  /** Bounded name for metrics and logs (default target-N / initiator-N). */
  name?: string;
  provider: ProviderName;
  node?: string;
  service?: string;
  /** Default 'hybrid': spin briefly after activity, then sleep in the completion queue. */
  pollMode?: PollMode;
  /** MXL domain directory. */
  domain: string;
}

export interface TargetOptions extends EndpointCommonOptions {
  /** NMOS flow definition (JSON text) of the flow to create or join in `domain`. */
  flowDef: string;
  cqDepth?: number;
  /** Commit landed grains into the flow (default true). */
  autoCommit?: boolean;
  /** MSG providers: initiators connected at once (default 1; see the engine's TargetOptions). */
  maxInitiators?: number;
  /** MSG providers: a connection with nothing landed for this long is reported idle (default 1000). */
  idleMs?: number;
}

export interface InitiatorOptions extends EndpointCommonOptions {
  /** Source flow id in `domain`. */
  flowId: string;
  /** Forward every grain committed to the source flow, as it is committed (default false). */
  follow?: boolean;
  maxInFlight?: number;
  reconnectDelayMs?: number;
  /**
   * Map the source flow read-write (default: true for efa, false otherwise). EFA cannot
   * register read-only memory, and a flow reader maps its grains read-only (docs/fabrics.md).
   */
  writableMapping?: boolean;
  /**
   * Publish a grain at the target only if its source slot still held it when the payload
   * write completed (default true; docs/sessions.md). false sends header and payload with
   * the immediate in one write, as upstream does: cheaper, but a grain overwritten in flight
   * lands torn.
   */
  protectTorn?: boolean;
  /**
   * Follow mode for grains over MSG providers (tcp, verbs) runs in the addon (default true;
   * docs/native.md "The native follow loop"). false keeps the JavaScript follow loop.
   */
  nativeFollow?: boolean;
}

export interface FabricsOptions {
  /** Export every endpoint's counters through this exporter (or create one with true). */
  metrics?: MetricsExporter | boolean;
}

const workerUrl = (f: string) => new URL(`../workers/${f}`, import.meta.url);

export class Fabrics {
  readonly metrics?: MetricsExporter;
  private readonly endpoints = new Set<EndpointHandle>();
  private counter = 0;
  private server?: MetricsServer;

  constructor(opts: FabricsOptions = {}) {
    addon(); // fail here, with the setup hint, rather than inside a worker
    if (opts.metrics === true) this.metrics = new MetricsExporter({ libfabricVersion: addon().fabricVersion() });
    else if (opts.metrics) this.metrics = opts.metrics;
  }

  /** Starts a target in its own worker; resolves once it listens (its TargetInfo is ready). */
  async createTarget(opts: TargetOptions): Promise<TargetHandle> {
    const name = opts.name ?? `target-${++this.counter}`;
    const h = new TargetHandle(
      { role: 'target', name, provider: opts.provider, node: opts.node, service: opts.service, pollMode: opts.pollMode ?? 'hybrid', domain: opts.domain, flowDef: opts.flowDef, cqDepth: opts.cqDepth, autoCommit: opts.autoCommit ?? true, maxInitiators: opts.maxInitiators, idleMs: opts.idleMs },
      workerUrl('target-worker.js'),
    );
    return this.adopt(h, opts.provider);
  }

  /** Starts an initiator in its own worker. */
  async createInitiator(opts: InitiatorOptions): Promise<InitiatorHandle> {
    const name = opts.name ?? `initiator-${++this.counter}`;
    const h = new InitiatorHandle(
      { role: 'initiator', name, provider: opts.provider, node: opts.node, service: opts.service, pollMode: opts.pollMode ?? 'hybrid', domain: opts.domain, flowId: opts.flowId, follow: opts.follow ?? false, maxInFlight: opts.maxInFlight, reconnectDelayMs: opts.reconnectDelayMs, writableMapping: opts.writableMapping ?? opts.provider === 'efa', protectTorn: opts.protectTorn, nativeFollow: opts.nativeFollow },
      workerUrl('initiator-worker.js'),
    );
    return this.adopt(h, opts.provider);
  }

  /** Serves /metrics (needs the metrics option). */
  async serveMetrics(host = '127.0.0.1', port = 0): Promise<MetricsServer> {
    if (!this.metrics) throw new FabricsError('MXL_ERR_INVALID_STATE', 'create Fabrics with { metrics: true } to serve metrics');
    this.server ??= await this.metrics.startMetricsServer({ host, port });
    return this.server;
  }

  /** Stops every endpoint (and the metrics server). */
  async close(): Promise<void> {
    // Initiators first: an initiator still posting writes into a target of this process
    // whose memory is being released crashed in libfabric's shm provider.
    const all = [...this.endpoints];
    await Promise.all(all.filter((e) => e.config.role === 'initiator').map((e) => e.close()));
    await Promise.all(all.filter((e) => e.config.role !== 'initiator').map((e) => e.close()));
    this.endpoints.clear();
    await this.server?.close();
    this.server = undefined;
  }

  private async adopt<H extends EndpointHandle & { readonly kind: 'grains' | 'samples'; readonly flowId: string }>(h: H, provider: string): Promise<H> {
    this.metrics?.preflight(h.name, h.config.role); // a bad or taken name fails before any worker starts
    await h.start();
    try {
      // After start: the worker has told the flow id, and the flow's format is on disk.
      if (this.metrics) this.metrics.register(h.name, h.config.role, h.stats, endpointLabels(h, provider), { alive: () => h.state === 'ready' });
    } catch (e) {
      await h.close();
      throw e;
    }
    this.endpoints.add(h);
    h.once('exit', () => {
      if (h.state === 'closed') {
        this.endpoints.delete(h);
        this.metrics?.unregister(h.name, h.config.role);
      }
    });
    return h;
  }
}
