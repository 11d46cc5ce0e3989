/**
 * `mxl-fabrics target`: receives a flow. Creates (or joins) the flow from its NMOS
 * definition, sets up a target in a worker thread, publishes its TargetInfo like
 * upstream's mxl-fabrics-demo (raw JSON to a file or stdout, base64 in the log), commits
 * every grain that lands, and runs until SIGINT/SIGTERM.
 */
import { FabricsError } from '../errors.js';
import { TargetInfo } from '../fabrics/target-info.js';
import { Word } from '../metrics/endpoint-stats.js';
import { Fabrics } from '../runtime/coordinator.js';
import { addon } from '../native/index.js';
import { processExporter } from '../metrics/exporter.js';
import { readUserFile } from '../util/bounded-read.js';
import { TargetInfoServer } from '../session/target-info-server.js';
import { parseListenFlag, serveMetricsChecked } from './listeners.js';
import { watchWorker } from './session-log.js';
import { UsageError } from './exit-codes.js';
import {
  Log, PROGRESS_INTERVAL_MS, RateMeter, oneLine, parseEndpointName, parseFlags, parseHostPort, parseLogFormat, parsePollMode, parseProviderFlag,
  pickInterface, readFlowDefArg, requireDomain, untilStopped, writeFileAtomic,
} from './endpoint-options.js';

export const targetHelp = `usage: mxl-fabrics target -d DOMAIN -f FLOW_DEF.json [-p PROVIDER] [-n NODE] [-s SERVICE]
                          [-t @FILE | -t FILE | -t -] [--info-http HOST:PORT] [--metrics HOST:PORT]
                          [--poll MODE] [--max-initiators N] [-q] [--name NAME]
                          [--log-format text|json]

Receives a flow over fabrics: creates the flow described by FLOW_DEF.json in DOMAIN (or
joins it), sets up a target, prints "Target info:  <base64>" on stderr (what an initiator's
-t takes) and commits every grain that arrives. Runs until SIGINT/SIGTERM (exit 0).
  -d, --domain       MXL domain directory to write the flow into (required, must exist)
  -f, --flow         NMOS flow definition JSON file (required; video, data or audio flows)
  -p, --provider     tcp, verbs, efa or shm (default: the best available, efa > verbs > tcp > shm)
  -n, --node         local address to listen on (IP for tcp/verbs, GID for efa, name for shm;
                     default: the chosen interface's address, a unique name for shm)
  -s, --service      local port (tcp/verbs) or name suffix (shm); default: any free port
  -t, --target-info  also write the TargetInfo as raw JSON: @FILE or FILE, or - for stdout
      --info-http    serve the TargetInfo at http://HOST:PORT/targetinfo (?format=base64 for the
                     base64 form), for initiators given -t http://HOST:PORT/targetinfo
      --metrics      serve Prometheus metrics at http://HOST:PORT/metrics (PORT 0: any free port),
                     with /healthz and /readyz (200 while listening)
      --name         this endpoint's name: the \`endpoint\` label of its metrics and log events
      --log-format   text (default) or json: one event per line (time, level, endpoint, msg)
      --poll         busy, hybrid (default) or blocking completion polling
      --cq-depth     completion queue depth (default 64)
      --max-initiators  initiators connected at once (tcp/verbs; default 1): one more is
                     refused, and both sides say so; each connection that stops sending is
                     logged idle after 1 s, and active again when it goes on
  -q, --quiet        no progress lines (events and errors are still logged)
      --verbose      stack traces on errors
  -h, --help         this text`;

/** A connection with nothing landed for this long is logged idle (docs/sessions.md "Idle initiators"). */
const IDLE_MS = 1000;

/** --max-initiators: a whole number from 1 to 1024 (undefined: the engine's default, 1). */
export function parseMaxInitiators(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new UsageError(`target: --max-initiators must be an integer from 1 to 1024, not ${JSON.stringify(v)}`);
  return n;
}

/** --info-http: the TargetInfo server, its failure prefixed with the command. */
async function serveTargetInfo(at: { host: string; port: number }): Promise<TargetInfoServer> {
  try {
    return await TargetInfoServer.start(at.host, at.port);
  } catch (e) {
    const err = e as FabricsError;
    throw new FabricsError(err.code ?? 'MXL_ERR_INVALID_ARG', `target: ${err.message}`, { field: 'info-http', cause: e });
  }
}

export async function runTarget(argv: string[]): Promise<number> {
  const values = parseFlags('target', argv, {
    domain: { type: 'string', short: 'd' },
    flow: { type: 'string', short: 'f' },
    provider: { type: 'string', short: 'p' },
    node: { type: 'string', short: 'n' },
    service: { type: 'string', short: 's' },
    'target-info': { type: 'string', short: 't' },
    'info-http': { type: 'string' },
    metrics: { type: 'string' },
    name: { type: 'string' },
    'log-format': { type: 'string' },
    poll: { type: 'string' },
    'cq-depth': { type: 'string' },
    'max-initiators': { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { console.log(targetHelp); return 0; }
  const str = (k: string) => values[k] as string | undefined;

  // Flags first (exit 2), then files and the domain (exit 1).
  const providerFlag = parseProviderFlag('target', str('provider'));
  const pollMode = parsePollMode('target', str('poll'));
  const name = parseEndpointName('target', str('name'));
  const logFormat = parseLogFormat('target', str('log-format'));
  const metrics = str('metrics') !== undefined ? parseHostPort('target', str('metrics')!) : undefined;
  const infoHttp = str('info-http') !== undefined ? parseListenFlag('target', '--info-http', str('info-http')!) : undefined;
  let cqDepth: number | undefined;
  if (str('cq-depth') !== undefined) {
    cqDepth = Number(str('cq-depth'));
    if (!Number.isInteger(cqDepth) || cqDepth < 1) throw new UsageError(`target: --cq-depth must be a positive integer, not ${JSON.stringify(str('cq-depth'))}`);
  }
  const maxInitiators = parseMaxInitiators(str('max-initiators'));
  let infoOut = str('target-info');
  if (infoOut !== undefined && infoOut !== '-') {
    infoOut = infoOut.startsWith('@') ? infoOut.slice(1) : infoOut;
    if (!infoOut) throw new UsageError('target: -t takes @FILE, FILE or - (stdout)');
  }
  const domain = requireDomain('target', str('domain'));
  const { text: flowDef, def } = readFlowDefArg('target', str('flow'), 'the NMOS definition of the flow to receive');
  const audio = def.format === 'audio';
  const { provider, node } = pickInterface('target', providerFlag, str('node'));

  const log = new Log(process.stderr, values.quiet === true, logFormat, { endpoint: name ?? 'target-1' });
  const stop = untilStopped();
  const fx = new Fabrics({ metrics: metrics && processExporter(addon().fabricVersion()) });
  let grainsAtStop = 0;
  let infoServer: TargetInfoServer | undefined;
  try {
    // Listeners first: a busy port fails before the flow and the endpoint exist.
    const metricsServer = metrics ? await serveMetricsChecked('target', fx, metrics) : undefined;
    if (infoHttp) infoServer = await serveTargetInfo(infoHttp);
    const target = await fx.createTarget({ name, provider, node, service: str('service'), domain, flowDef, pollMode, cqDepth, maxInitiators, idleMs: IDLE_MS });
    target.on('error', (e: Error) => stop.fail(e));
    const watchdog = watchWorker('target', target, log);
    const info = TargetInfo.parse(target.info);
    log.line(`target: flow ${target.flowId} (${def.mediaType}, ${target.grainCount} grains) in ${domain}, listening on ${info.printableAddress} (${provider}${provider === 'shm' || provider === 'efa' ? ', connectionless' : ''}, poll ${pollMode})`);
    if (infoOut === '-') process.stdout.write(`${target.info}\n`);
    else if (infoOut !== undefined) {
      try {
        writeFileAtomic(infoOut, target.info);
      } catch (e) {
        throw new FabricsError('MXL_ERR_INVALID_ARG', `target: cannot write TargetInfo to ${infoOut} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): give a writable path to -t`, { field: 'target-info' });
      }
      log.line(`target: TargetInfo written to ${infoOut}`);
    }
    if (infoServer) {
      infoServer.update(target.info);
      log.line(`target: TargetInfo at ${infoServer.url}`);
    }
    if (metricsServer) log.line(`target: metrics at ${metricsServer.url}`);
    // Last, so that a script waiting for this line finds the file and the URL ready.
    log.line(`Target info:  ${info.toBase64()}`);

    let dropped = 0;
    // Connections whose initiator stopped sending (tcp/verbs: tracked per connection).
    const idleConns = new Set<number>();
    target.on('connected', (e: { connection: number }) => log.line(`target: initiator connected (connection ${e.connection})`));
    target.on('disconnected', (e: { connection: number }) => {
      idleConns.delete(e.connection);
      log.line(`target: initiator disconnected (connection ${e.connection})`, 'warn');
    });
    target.on('idle', (e: { connection: number }) => {
      idleConns.add(e.connection);
      log.line(`target: connection ${e.connection} idle: nothing landed for ${IDLE_MS} ms (the initiator stopped sending, or is stalled)`, 'warn');
    });
    target.on('active', (e: { connection: number }) => {
      idleConns.delete(e.connection);
      log.line(`target: connection ${e.connection} active again`);
    });
    target.on('dropped', (m: { reason?: string }) => { if (dropped++ === 0) log.line(`target: dropped a write: ${m.reason ?? 'out of range'} (further drops are counted in the progress line)`, 'warn'); });
    target.on('peerError', (e?: FabricsError) => {
      // A refusal names the limit; say which flag raises it.
      const hint = e?.field === 'maxInitiators' ? ' (--max-initiators N accepts more)' : '';
      log.line(`target: peer error: ${oneLine(e?.message ?? 'unknown')}${hint}`, 'error');
    });
    // Drain the event ring (grains are committed by the worker; nothing to do per grain here),
    // in 50 ms batches so the main thread does not wake per grain (docs/runtime.md).
    const drain = audio
      ? (async () => { for await (const _ of target.samples({ batchMs: 50 })) { /* counted by the stats */ } })()
      : (async () => { for await (const _ of target.grains({ batchMs: 50 })) { /* counted by the stats */ } })();

    // efa and shm are connectionless (RDM): no connection events, no connection count.
    const connectionless = provider === 'shm' || provider === 'efa';
    const s = target.stats;
    const unit = audio ? 'windows' : 'grains';
    const meter = new RateMeter(() => s.read(audio ? Word.SAMPLE_BATCHES : Word.GRAINS));
    const timer = setInterval(() => {
      const { rate, total } = meter.tick();
      const last = s.read(Word.LAST_GRAIN_INDEX);
      const conns = s.read(Word.PEERS_CONNECTED);
      log.progress(`target: ${rate.toFixed(1)} ${unit}/s, ${total} ${unit}` + (audio ? ` (${s.read(Word.SAMPLES)} samples)` : '') + (connectionless ? '' : `, ${conns} connection${conns === 1 ? '' : 's'}${idleConns.size > 0 ? ` (${idleConns.size} idle)` : ''}`) +
        (last >= 0 ? `, last index ${last}, lag ${s.read(Word.FLOW_LAG_GRAINS)}` : '') + (dropped > 0 ? `, dropped ${dropped}` : ''));
    }, PROGRESS_INTERVAL_MS);

    const why = await stop.stopped;
    clearInterval(timer);
    watchdog.stop();
    grainsAtStop = s.read(audio ? Word.SAMPLE_BATCHES : Word.GRAINS);
    if (why.kind === 'error') throw why.error;
    log.line(`target: ${why.signal}: stopping`);
    await fx.close();
    await drain;
    log.line(`target: stopped after ${grainsAtStop} ${unit}`);
    return 0;
  } finally {
    stop.dispose();
    log.end();
    await infoServer?.close();
    await fx.close();
  }
}
