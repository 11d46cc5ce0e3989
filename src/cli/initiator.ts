/**
 * `mxl-fabrics initiator`: sends a flow. Reads an existing flow of the domain (written by
 * any MXL application) and forwards every grain to one or more targets as soon as it is
 * committed (follow mode), until SIGINT/SIGTERM.
 */
import fs from 'node:fs';
import { FabricsError } from '../errors.js';
import { MxlInstance, canonicalUuid } from '../domain/index.js';
import { TargetInfo } from '../fabrics/target-info.js';
import type { ProviderName } from '../fabrics/provider.js';
import { Word } from '../metrics/endpoint-stats.js';
import { Fabrics } from '../runtime/coordinator.js';
import { addon } from '../native/index.js';
import { processExporter } from '../metrics/exporter.js';
import type { PeerEvent } from '../runtime/initiator-handle.js';
import { UsageError } from './exit-codes.js';
import {
  Log, PROGRESS_INTERVAL_MS, RateMeter, oneLine, parseEndpointName, parseFlags, parseHostPort, parseLogFormat, parsePollMode, parseProviderFlag,
  pickInterface, requireDomain, untilStopped,
} from './endpoint-options.js';

export const initiatorHelp = `usage: mxl-fabrics initiator -d DOMAIN -f FLOW_ID -t @FILE|BASE64 [-t ...] [-p PROVIDER] [-n NODE]
                             [-s SERVICE] [--metrics HOST:PORT] [--poll MODE] [-q]
                             [--name NAME] [--log-format text|json]

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
  -q, --quiet        no progress lines (events and errors are still logged)
      --verbose      stack traces on errors
  -h, --help         this text`;

interface TargetArg { n: number; text: string; info: TargetInfo; from: string }

/** One -t value: @FILE holds raw JSON (base64 tolerated), anything else is inline base64 (JSON tolerated). */
function readTargetArg(v: string, n: number): TargetArg {
  const which = `-t #${n}`;
  let text = v;
  let from = 'inline';
  if (v.startsWith('@')) {
    const file = v.slice(1);
    if (!file) throw new UsageError(`initiator: ${which}: @ must be followed by a file name`);
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new FabricsError(code === 'ENOENT' ? 'MXL_ERR_NOT_FOUND' : 'MXL_ERR_INVALID_ARG',
        `initiator: ${which}: cannot read TargetInfo file ${file} (${code ?? (e as Error).message}): give the file the target wrote with -t`, { field: 'target-info' });
    }
    from = file;
  }
  try {
    return { n, text: text.trim(), info: TargetInfo.parse(text), from };
  } catch (e) {
    const msg = oneLine((e as Error).message);
    const unreadable = /neither JSON nor base64|does not decode|malformed JSON|not a JSON object|empty string/.test(msg);
    let hint = !unreadable ? 'this is not a complete TargetInfo: copy it again from the target (its -t file or its "Target info:" log line)'
      : from === 'inline' ? 'pass the base64 text the target logs after "Target info:", or @FILE' : 'the file must hold the raw JSON the target wrote';
    if (from === 'inline' && fs.existsSync(v)) hint = `${v} is a file: write -t @${v}`;
    throw new FabricsError('MXL_ERR_INVALID_ARG', `initiator: ${which} (${from === 'inline' ? 'inline' : from}): ${msg}: ${hint}`, { field: 'target-info', cause: e });
  }
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
  const targets = tArgs.map((v, i) => readTargetArg(v, i + 1));

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
  try {
    const ini = await fx.createInitiator({ name, provider, node, service: str('service'), domain, flowId, follow: true, pollMode });
    ini.on('error', (e: Error) => stop.fail(e));
    log.line(`initiator: following flow ${flowId} (${provider}, poll ${pollMode}) in ${domain}`);
    // Events can come before addTarget's answer (shm connects at once): name peers by target id.
    const label = new Map<string, string>();
    for (const t of targets) label.set(t.info.id.toString(), `target #${t.n} ${t.info.printableAddress}`);
    const nameOf = (e: PeerEvent) => (e.targetId !== undefined ? label.get(e.targetId) : undefined) ?? `target ${e.peer}`;
    const perPeer = new Map<number, number>();
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
    for (const t of targets) {
      const { peer } = await ini.addTarget(t.text);
      perPeer.set(peer, 0);
      log.line(`initiator: added target #${t.n} ${t.info.printableAddress} (id ${t.info.id}${t.from === 'inline' ? '' : `, from ${t.from}`})`, 'info', { target_id: t.info.id.toString() });
    }
    if (metrics) {
      const srv = await fx.serveMetrics(metrics.host, metrics.port);
      log.line(`initiator: metrics at ${srv.url}`);
    }
    const drain = (async () => {
      for await (const c of ini.completions()) perPeer.set(c.peer, (perPeer.get(c.peer) ?? 0) + 1);
    })();

    const s = ini.stats;
    const meters = new Map<number, RateMeter>([...perPeer.keys()].map((p) => [p, new RateMeter(() => perPeer.get(p) ?? 0)]));
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
    if (why.kind === 'error') throw why.error;
    log.line(`initiator: ${why.signal}: stopping`);
    await fx.close();
    await drain;
    log.line(`initiator: stopped after ${[...perPeer.values()].join('/')} grains`);
    return 0;
  } finally {
    stop.dispose();
    log.end();
    await fx.close();
  }
}
