/**
 * `mxl-fabrics bench target|initiator`: the bench across two hosts. The target serves its
 * TargetInfo at http://HOST:PORT/targetinfo (and /targetinfos, /stats, /stop) and/or writes
 * it to --info-file; the initiator reads it from there, carries the flow for --duration,
 * and prints (or writes) the JSON report with both sides' figures.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { TargetSide, type TargetStats } from '../../bench/lib/target-side.js';
import { runInitiatorSide } from '../../bench/lib/initiator-side.js';
import { FORMATS } from '../../bench/lib/scenarios.js';
import { oursFigures } from '../../bench/lib/figures.js';
import { machineInfo, packageVersion, writeReport, type BenchReport, type ScenarioResult } from '../../bench/lib/report.js';
import { offloadVerdict, rdmaWriteBytes } from '../../bench/lib/rdma-counters.js';
import { addon } from '../native/index.js';
import { providerFromString, providerToString } from '../fabrics/provider.js';
import { POLL_MODES, type PollMode } from '../ipc/control-block.js';
import { ExitCode, UsageError } from './exit-codes.js';

export const benchHelp = `usage: mxl-fabrics bench target|initiator [options]

  target: receive N streams, verify and time every grain, serve the TargetInfo and figures
    --http HOST:PORT    serve /targetinfo, /targetinfos, /stats, /stop (default 127.0.0.1:0;
                        use 0.0.0.0:PORT across hosts)
    --info-file F       also write the TargetInfos to F (JSON {"infos": [...]})
    --max-duration S    stop after S seconds even without /stop (default 3600)
    --warmup S          paced: leave each stream's first S seconds out of the latency
                        figures and count its late grains apart (default 0)
  initiator: send N streams to the target for --duration and print the JSON report
    --target URL        the target's http://HOST:PORT (reads /targetinfos, /stats, /stop)
    --info-file F       or the TargetInfos from a file (the report then has no target figures)
    --duration S        seconds of traffic (default 10)
    --out DIR           write report.json, summary.md, chart.svg there (else JSON on stdout)
    --writable-mapping  map the source flow writable (automatic with -p efa)
    --no-protect-torn   one write per grain as upstream (default: two-phase commit)
    --js-follow         initiator: the JavaScript follow loop instead of the addon's (tcp, verbs)
  both:
    -p, --provider P    tcp (default), shm, verbs or efa
    -n, --node ADDR     local address to bind
    --format F          ${Object.keys(FORMATS).join(', ')} (default 1080p50)
    --streams N         concurrent streams (default 1)
    --unpaced           as fast as the link takes it (default: the flow's rate)
    --poll MODE         ${POLL_MODES.join(', ')} (default hybrid)
    --no-verify         do not check payload stamps`;

const HERE = path.dirname(fileURLToPath(import.meta.url));

function hostPort(s: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(s);
  if (!m || Number(m[2]) > 65535) throw new UsageError(`--http expects HOST:PORT, got ${JSON.stringify(s)}`);
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}

export async function runBench(argv: string[]): Promise<number> {
  const [role, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      provider: { type: 'string', short: 'p' }, node: { type: 'string', short: 'n' }, format: { type: 'string' }, streams: { type: 'string' },
      unpaced: { type: 'boolean' }, poll: { type: 'string' }, 'no-verify': { type: 'boolean' }, http: { type: 'string' }, 'info-file': { type: 'string' },
      'max-duration': { type: 'string' }, warmup: { type: 'string' }, target: { type: 'string' }, duration: { type: 'string' }, out: { type: 'string' }, 'writable-mapping': { type: 'boolean' }, 'no-protect-torn': { type: 'boolean' }, 'js-follow': { type: 'boolean' },
      verbose: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help || role === '--help' || role === '-h') { console.log(benchHelp); return ExitCode.OK; }
  if (role !== 'target' && role !== 'initiator') throw new UsageError(`bench needs target or initiator, got ${JSON.stringify(role ?? '')}`);
  const provider = providerToString(providerFromString(values.provider ?? 'tcp'));
  const format = FORMATS[values.format ?? '1080p50'];
  if (!format) throw new UsageError(`unknown --format ${JSON.stringify(values.format)}: use ${Object.keys(FORMATS).join(', ')}`);
  const streams = Number(values.streams ?? 1);
  if (!Number.isInteger(streams) || streams < 1 || streams > 64) throw new UsageError(`--streams must be 1..64, got ${values.streams}`);
  const pollMode = (values.poll ?? 'hybrid') as PollMode;
  if (!POLL_MODES.includes(pollMode)) throw new UsageError(`--poll must be one of ${POLL_MODES.join(', ')}`);
  const paced = values.unpaced !== true;
  const node = values.node ?? (provider === 'tcp' ? '127.0.0.1' : undefined);

  if (role === 'target') {
    const maxS = Number(values['max-duration'] ?? 3600);
    const warmupS = Number(values.warmup ?? 0);
    if (!(warmupS >= 0)) throw new UsageError(`--warmup must be >= 0 seconds, got ${values.warmup}`);
    const side = new TargetSide({ provider, node, format, streams, pollMode, paced, verify: values['no-verify'] !== true, warmupS, http: hostPort(values.http ?? '127.0.0.1:0'), infoFile: values['info-file'] });
    await side.start();
    console.log(JSON.stringify({ type: 'ready', url: side.url, infoFile: values['info-file'] ?? null, streams }));
    const stop = (): void => side.stopNow();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const timer = setTimeout(stop, maxS * 1000);
    await side.waitStopped();
    clearTimeout(timer);
    const stats = side.stats();
    await side.close();
    console.log(JSON.stringify({ type: 'stats', ...stats }));
    return ExitCode.OK;
  }

  const durationS = Number(values.duration ?? 10);
  if (!(durationS > 0)) throw new UsageError(`--duration must be > 0 seconds, got ${values.duration}`);
  const url = values.target?.replace(/\/+$/, '');
  if (!url && !values['info-file']) throw new UsageError('the initiator needs --target URL or --info-file FILE');
  const get = async <T>(p: string): Promise<T> => {
    const r = await fetch(`${url}${p}`);
    if (!r.ok) throw new UsageError(`${url}${p}: HTTP ${r.status}`);
    return (await r.json()) as T;
  };
  const { infos } = url ? await get<{ infos: string[] }>('/targetinfos') : (JSON.parse(fs.readFileSync(values['info-file']!, 'utf8')) as { infos: string[] });
  if (infos.length < streams) throw new UsageError(`the target has ${infos.length} stream(s), --streams asks for ${streams}`);
  const writableMapping = values['writable-mapping'] === true || provider === 'efa';
  const offload0 = rdmaWriteBytes();
  const i = await runInitiatorSide({ provider, node, format, infos: infos.slice(0, streams), paced, durationS, pollMode, writableMapping, protectTorn: values['no-protect-torn'] !== true, nativeFollow: values['js-follow'] !== true });
  const offload = offloadVerdict(offload0, rdmaWriteBytes(), i.completed * i.unitBytes);
  const t = url ? await get<TargetStats>('/stop') : undefined;
  const ours = t ? oursFigures(i, t) : null;
  const scenario: ScenarioResult = {
    name: format.name, format: format.mediaType, provider, paced, streams, pollMode, durationS, grainBytes: i.unitBytes, ours,
    baseline: null, baselineNote: 'two-host run: no raw C baseline (run it with bench/c/rma_bw on both hosts)', ratios: null, noisy: false, othersPct: 0,
    ok: ours !== null && ours.counts.arrived > 0 && ours.counts.lost === 0 && ours.counts.corrupt === 0,
    note: t ? undefined : `target figures not available with --info-file (written ${i.written}, completed ${i.completed})`,
  };
  const report: BenchReport = {
    schema: 'mxl-fabrics-bench/1', date: new Date().toISOString(), command: ['mxl-fabrics', 'bench', ...argv], machine: machineInfo(),
    versions: { node: process.version, mxlFabrics: packageVersion(HERE), libfabric: addon().fabricVersion() },
    method: { mode: `two processes (bench target / bench initiator), provider ${provider}, writableMapping ${writableMapping}, protectTorn ${values['no-protect-torn'] !== true}, follow loop ${values['js-follow'] === true ? 'JavaScript' : 'native where it applies'}` },
    scenarios: [scenario], highestN: [], rdmaOffload: provider === 'efa' || offload.offloaded !== 'unknown' ? offload : undefined,
  };
  if (values.out) {
    const files = writeReport(values.out, report);
    console.log(`report: ${files.json}, ${files.md}, ${files.svg}`);
  } else console.log(JSON.stringify(report, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2));
  return scenario.ok || !t ? ExitCode.OK : ExitCode.FAILURE;
}
