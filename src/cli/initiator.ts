/**
 * `mxl-fabrics initiator`: sends a flow. Reads an existing flow of the domain (written by
 * any MXL application) and forwards every grain to one or more targets as soon as it is
 * committed (follow mode), until SIGINT/SIGTERM.
 */
import { FabricsError } from '../errors.js';
import { MxlInstance, canonicalUuid } from '../domain/index.js';
import type { ProviderName } from '../fabrics/provider.js';
import { Word } from '../metrics/endpoint-stats.js';
import { Fabrics } from '../runtime/coordinator.js';
import { addon } from '../native/index.js';
import { processExporter } from '../metrics/exporter.js';
import type { PeerEvent } from '../runtime/initiator-handle.js';
import { openTargetInfoSource, type TargetInfoSource } from '../session/target-info-source.js';
import { TargetSessions } from '../session/target-session.js';
import { UsageError } from './exit-codes.js';
import { serveMetricsChecked } from './listeners.js';
import { logSessionEvents, watchWorker } from './session-log.js';
import {
  Log, PROGRESS_INTERVAL_MS, RateMeter, oneLine, parseEndpointName, parseFlags, parseHostPort, parseLogFormat, parsePollMode, parseProviderFlag,
  pickInterface, requireDomain, untilStopped,
} from './endpoint-options.js';

export const initiatorHelp = `usage: mxl-fabrics initiator -d DOMAIN -f FLOW_ID -t @FILE|BASE64 [-t ...] [-p PROVIDER] [-n NODE]
                             [-s SERVICE] [--metrics HOST:PORT] [--poll MODE] [-q]
                             [--name NAME] [--log-format text|json] [--writable-mapping]

Sends a flow over fabrics: follows flow FLOW_ID in DOMAIN (written by any MXL application)
and forwards every grain to each target as soon as it is committed. Runs until
SIGINT/SIGTERM (exit 0).
  -d, --domain       MXL domain directory holding the flow (required)
  -f, --flow         id (UUID) of the flow to send (required; see \`mxl-fabrics flows\`)
  -t, --target-info  the target's TargetInfo: @FILE (raw JSON, as \`target -t\` writes it) or
                     the base64 text the target logs after "Target info:"; repeat for fan-out
  -p, --provider     tcp, verbs, efa or shm (default: the provider named in the TargetInfo)
  -n, --node         local address to send from (default: chosen by the provider)
  -s, --service      local port (tcp/verbs) or name suffix (shm); rarely needed
      --metrics      serve Prometheus metrics at http://HOST:PORT/metrics (PORT 0: any free port),
                     with /healthz and /readyz (200 while every target is connected and
                     completing writes)
      --name         this endpoint's name: the \`endpoint\` label of its metrics and log events
      --log-format   text (default) or json: one event per line (time, level, endpoint,
                     target_id, msg)
      --poll         busy, hybrid (default) or blocking completion polling
      --writable-mapping  map the source flow read-write, for providers that cannot register
                     read-only memory (automatic with efa)
  -q, --quiet        no progress lines (events and errors are still logged)
      --verbose      stack traces on errors
  -h, --help         this text`;

/** One -t value as a TargetInfo source: @FILE (watched), http(s)://... (refetched) or inline text. */
function openTargetArg(v: string, n: number): Promise<TargetInfoSource> {
  const which = `initiator: -t #${n}`;
  if (v === '@') throw new UsageError(`${which}: @ must be followed by a file name`);
  return openTargetInfoSource(v, { which });
}

export async function runInitiator(argv: string[]): Promise<number> {
  const values = parseFlags('initiator', argv, {
    domain: { type: 'string', short: 'd' },
    flow: { type: 'string', short: 'f' },
    'target-info': { type: 'string', short: 't', multiple: true },
    provider: { type: 'string', short: 'p' },
    node: { type: 'string', short: 'n' },
    service: { type: 'string', short: 's' },
    metrics: { type: 'string' },
    name: { type: 'string' },
    'log-format': { type: 'string' },
    poll: { type: 'string' },
    'writable-mapping': { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { console.log(initiatorHelp); return 0; }
  const str = (k: string) => values[k] as string | undefined;

  // Flags first (exit 2), then the domain, TargetInfos and the flow (exit 1).
  const providerFlag = parseProviderFlag('initiator', str('provider'));
  const pollMode = parsePollMode('initiator', str('poll'));
  const name = parseEndpointName('initiator', str('name'));
  const logFormat = parseLogFormat('initiator', str('log-format'));
  const metrics = str('metrics') !== undefined ? parseHostPort('initiator', str('metrics')!) : undefined;
  const tArgs = (values['target-info'] as string[] | undefined) ?? [];
  if (tArgs.length === 0) throw new UsageError('initiator: -t/--target-info is required: @FILE written by `mxl-fabrics target -t`, or the base64 text it logs');
  if (!str('flow')) throw new UsageError('initiator: -f/--flow FLOW_ID is required (the id of the flow to send; see `mxl-fabrics flows -d DOMAIN`)');
  const flowId = canonicalUuid(str('flow')!);
  if (!flowId) throw new UsageError(`initiator: -f takes a flow id (a UUID), not ${JSON.stringify(str('flow'))}; see \`mxl-fabrics flows -d DOMAIN\``);
  const domain = requireDomain('initiator', str('domain'));
  const sources: TargetInfoSource[] = [];
  try {
    for (const [i, v] of tArgs.entries()) sources.push(await openTargetArg(v, i + 1));
  } catch (e) {
    for (const src of sources) src.close();
    throw e;
  }
  const targets = sources.map((src, i) => ({ n: i + 1, info: src.current().info, from: src.kind === 'inline' ? 'inline' : src.from }));

  const ids = new Set<bigint>();
  for (const t of targets) {
    if (ids.has(t.info.id)) throw new FabricsError('MXL_ERR_EXISTS', `initiator: -t #${t.n} is the same target (id ${t.info.id}) as an earlier -t: give each target once`, { field: 'target-info' });
    ids.add(t.info.id);
  }

  // The flow must exist and match the targets' kind; look before starting any worker.
  let audio = false;
  const probe = new MxlInstance(domain);
  try {
    const r = probe.openFlowReader(flowId);
    audio = r.kind === 'continuous';
    r.close();
    for (const t of targets) {
      if (audio !== (t.info.bounceBufferInfo !== undefined)) {
        throw new FabricsError('MXL_ERR_INVALID_ARG', `initiator: -t #${t.n} describes ${t.info.bounceBufferInfo ? 'an audio' : 'a video/data'} target but flow ${flowId} is ${audio ? 'audio' : 'video/data'}`, { field: 'target-info' });
      }
    }
  } catch (e) {
    if (e instanceof FabricsError && e.code === 'MXL_ERR_FLOW_NOT_FOUND') {
      throw new FabricsError('MXL_ERR_FLOW_NOT_FOUND', `initiator: flow ${flowId} not found in domain ${domain}: start its writer first, or run \`mxl-fabrics flows -d ${domain}\` to list the flows`, { field: 'flow', cause: e });
    }
    throw e;
  } finally {
    probe.close();
  }

  // Provider: -p, else the one the TargetInfos name (an initiator on another provider
  // could never reach them).
  let provider: ProviderName;
  let node = str('node');
  if (providerFlag) {
    for (const t of targets) {
      if (t.info.provider !== providerFlag) throw new FabricsError('MXL_ERR_INVALID_ARG', `initiator: -t #${t.n} is a ${t.info.provider} target but -p is ${providerFlag}: use -p ${t.info.provider} or leave -p out`, { field: 'provider' });
    }
    provider = providerFlag;
  } else {
    const named = new Set(targets.map((t) => t.info.provider));
    if (named.size > 1) throw new FabricsError('MXL_ERR_INVALID_ARG', `initiator: the targets use different providers (${[...named].join(', ')}): one initiator uses one provider; run one initiator per provider`, { field: 'provider' });
    provider = targets[0].info.provider;
  }
  // Checks that this host has the provider (and the node, when given); keeps the node as given.
  if (node !== undefined) node = pickInterface('initiator', provider, node).node;
  else pickInterface('initiator', provider, undefined); // the node stays unset: the provider picks the source address

  const log = new Log(process.stderr, values.quiet === true, logFormat, { endpoint: name ?? 'initiator-1' });
  const stop = untilStopped();
  const fx = new Fabrics({ metrics: metrics && processExporter(addon().fabricVersion()) });
  let sessions: TargetSessions | undefined;
  try {
    // Listeners first: a busy port fails before the endpoint exists.
    const metricsServer = metrics ? await serveMetricsChecked('initiator', fx, metrics) : undefined;
    const ini = await fx.createInitiator({ name, provider, node, service: str('service'), domain, flowId, follow: true, pollMode,
      writableMapping: values['writable-mapping'] === true || undefined });
    ini.on('error', (e: Error) => stop.fail(e));
    const watchdog = watchWorker('initiator', ini, log);
    // Which follow loop carries the flow: the addon's (tcp, verbs) or JavaScript's (shm, efa).
    const loop = ((await ini.status()) as { followLoop?: string }).followLoop;
    log.line(`initiator: following flow ${flowId} (${provider}, poll ${pollMode}${loop === 'native' ? ', native loop' : loop === 'javascript' ? ', JavaScript loop' : ''}) in ${domain}`);
    // Events can come before addTarget's answer (shm connects at once): name peers by target id.
    sessions = new TargetSessions(ini);
    const ss = sessions;
    const nameOf = (e: PeerEvent) => {
      const x = ss.of(e);
      return x ? `${x.name} ${x.info.printableAddress}` : `target ${e.peer}`;
    };
    const seenReasons = new Set<string>();
    let peerErrors = 0;
    ini.on('connected', (e: PeerEvent) => log.line(`initiator: connected to ${nameOf(e)}`, 'info', { target_id: e.targetId }));
    ini.on('disconnected', (e: PeerEvent) => log.line(`initiator: disconnected from ${nameOf(e)}${e.reason ? ` (${e.reason})` : ''}; reconnecting`, 'warn', { target_id: e.targetId }));
    ini.on('peerError', (e: PeerEvent) => {
      peerErrors++;
      const msg = oneLine(e.error?.message ?? e.reason ?? 'unknown error');
      const key = msg.replace(/\d+/g, 'N');
      if (!seenReasons.has(key)) {
        seenReasons.add(key);
        log.line(`initiator: ${nameOf(e)}: ${msg} (repeats are counted in the progress line)`, 'error', { target_id: e.targetId });
      }
    });
    logSessionEvents(ss, log, audio);
    await ss.add(sources);
    for (const t of targets) log.line(`initiator: added target #${t.n} ${t.info.printableAddress} (id ${t.info.id}${t.from === 'inline' ? '' : `, from ${t.from}`})`, 'info', { target_id: t.info.id.toString() });
    if (metricsServer) log.line(`initiator: metrics at ${metricsServer.url}`);
    const drain = (async () => {
      // Completions feed session counters and progress lines: batches of 50 ms spare the
      // main thread a wake-up per grain (docs/runtime.md, batched records).
      for await (const c of ini.completions({ batchMs: 50 })) ss.completion(c);
    })();

    const s = ini.stats;
    const meters = new Map<number, RateMeter>(ss.sessions.map((x) => [x.n, new RateMeter(() => x.completed)]));
    const timer = setInterval(() => {
      const conns = s.read(Word.PEERS_CONNECTED);
      const parts = [...meters].map(([p, m]) => {
        const { rate, total } = m.tick();
        const unit = audio ? 'windows' : 'grains';
        return `${meters.size > 1 ? `#${p} ` : ''}${rate.toFixed(1)} ${unit}/s, ${total} ${unit}`;
      });
      const rejected = s.skippedTotal();
      log.progress(`initiator: ${parts.join('; ')}, ${conns}/${targets.length} connected` +
        (rejected > 0 ? `, ${rejected} skipped` : '') + (peerErrors > 0 ? `, ${peerErrors} errors` : ''));
    }, PROGRESS_INTERVAL_MS);

    const why = await stop.stopped;
    clearInterval(timer);
    watchdog.stop();
    if (why.kind === 'error') throw why.error;
    log.line(`initiator: ${why.signal}: stopping`);
    await fx.close();
    await drain;
    log.line(`initiator: stopped after ${ss.sessions.map((x) => x.completed).join('/')} grains`);
    return 0;
  } finally {
    stop.dispose();
    log.end();
    sessions?.close();
    for (const src of sources) src.close();
    await fx.close();
  }
}
