/**
 * `mxl-fabrics demo`: the library's main job on an embedded default. Two temporary MXL
 * domains, a synthetic 1080p50 v210 flow written at the real frame rate, a target and an
 * initiator in worker threads over tcp on 127.0.0.1, every grain verified at a reader of
 * the target flow, live progress, a summary; exit 0 only if every grain arrived intact.
 */
import { parseArgs } from 'node:util';
import { DEMO_FORMATS } from '../demo/demo-formats.js';
import { type DemoProgress, type DemoSummary, runDemo as run } from '../demo/demo-run.js';
import { providerFromString, providerToString } from '../fabrics/provider.js';
import { POLL_MODES, type PollMode } from '../ipc/control-block.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { formatEvent } from '../log/event-log.js';
import { parseLogFormat } from './endpoint-options.js';
import { claimSignals } from './process-guards.js';
import { fitToColumns } from './endpoint-options.js';

export const demoHelp = `usage: mxl-fabrics demo [options]

Carries a synthetic flow from one MXL domain to another over fabrics on this host and
verifies every grain. Temporary domains live under /dev/shm and are removed at the end.

  --duration S        seconds to run (default 10)
  -p, --provider P    tcp (default) or shm
  -n, --node ADDR     local address for tcp (default 127.0.0.1)
  --format F          1080p50 (default), 2160p50, v210a (1080p50 with key), or audio
                      (48 kHz, 2 channels, float32, 10 ms windows)
  --streams N         independent streams, each with its own target and initiator (default 1)
  --unpaced           write grains as fast as the link takes them instead of at 50 fps
  --poll MODE         busy, hybrid (default) or blocking
  --metrics H:P       serve Prometheus metrics there (default 127.0.0.1:9464, falls back to
                      any free port); --no-metrics to serve none
  --json              print the summary as JSON
  --log-format F      text (default) or json: set-up lines as JSON events on stderr
  --keep              keep the temporary domains (for inspection)

exit codes: 0 every grain arrived intact, 1 a grain was lost or corrupted or set-up failed,
2 bad options, 3 addon/libfabric missing, 130 interrupted (the summary is still printed)`;

function parseHostPort(s: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(s);
  if (!m || Number(m[2]) > 65535) throw new UsageError(`--metrics expects HOST:PORT, got ${JSON.stringify(s)}`);
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}

function progressLine(p: DemoProgress, unit: string): string {
  return `${p.elapsedS.toFixed(1).padStart(5)} s  ${p.grainsPerSec.toFixed(1).padStart(6)} ${unit}/s  ${p.gbitPerSec.toFixed(3).padStart(6)} Gbit/s  ` +
    `latency p50 ${p.latencyP50Ms.toFixed(2)} ms p99 ${p.latencyP99Ms.toFixed(2)} ms  late ${p.late}  lost ${p.lost}  corrupt ${p.corrupt}  ` +
    `verified ${p.verified}/${p.written}  ${(p.bytes / 1e9).toFixed(2)} GB`;
}

function summaryText(s: DemoSummary): string {
  const what = s.format.startsWith('audio') ? 'sample window' : 'grain';
  const verdict = s.ok ? `every ${what} arrived intact` : s.interrupted ? 'interrupted' : `FAILED: not every ${what} arrived intact`;
  return [
    '',
    `summary: ${s.streams} x ${s.format} over ${s.provider}, ${s.elapsedS.toFixed(1)} s`,
    `  written ${s.written}, arrived ${s.arrived}, verified ${s.verified}, lost ${s.lost}, corrupt ${s.corrupt}, late ${s.late}` +
      (s.sourceSkipped ? `, source skipped ${s.sourceSkipped}` : '') + (s.unverified ? `, unverified ${s.unverified}` : '') + (s.missing ? `, missing ${s.missing}` : ''),
    `  latency commit->arrival p50 ${s.latencyP50Ms.toFixed(2)} ms, p99 ${s.latencyP99Ms.toFixed(2)} ms; ${s.bytes >= 1e9 ? `${(s.bytes / 1e9).toFixed(2)} GB` : `${(s.bytes / 1e6).toFixed(1)} MB`} moved`,
    ...(s.failure ? [`  stopped early: ${s.failure}`] : []),
    `  ${verdict}`,
  ].join('\n');
}

export async function runDemo(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      provider: { type: 'string', short: 'p' },
      node: { type: 'string', short: 'n' },
      format: { type: 'string' },
      streams: { type: 'string' },
      unpaced: { type: 'boolean' },
      poll: { type: 'string' },
      metrics: { type: 'string' },
      'no-metrics': { type: 'boolean' },
      json: { type: 'boolean' },
      'log-format': { type: 'string' },
      keep: { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) { console.log(demoHelp); return ExitCode.OK; }
  const durationS = Number(values.duration ?? 10);
  if (!(durationS > 0) || durationS > 86_400) throw new UsageError(`--duration must be a number of seconds > 0, got ${values.duration}`);
  const provider = providerToString(providerFromString(values.provider ?? 'tcp'));
  if (provider !== 'tcp' && provider !== 'shm') throw new UsageError(`the demo runs on this host over tcp or shm, not ${provider}`);
  const formatName = values.format ?? '1080p50';
  const format = DEMO_FORMATS[formatName];
  if (!format) throw new UsageError(`unknown --format ${JSON.stringify(formatName)}: use ${Object.keys(DEMO_FORMATS).join(', ')}`);
  const streams = Number(values.streams ?? 1);
  if (!Number.isInteger(streams) || streams < 1 || streams > 16) throw new UsageError(`--streams must be 1..16, got ${values.streams}`);
  const pollMode = (values.poll ?? 'hybrid') as PollMode;
  if (!POLL_MODES.includes(pollMode)) throw new UsageError(`--poll must be one of ${POLL_MODES.join(', ')}`);
  const metrics = values['no-metrics'] ? null : values.metrics ? parseHostPort(values.metrics) : { host: '127.0.0.1', port: 9464 };

  const logFormat = parseLogFormat('demo', values['log-format']);
  const tty = process.stdout.isTTY === true && !values.json;
  const unit = format.kind === 'audio' ? 'windows' : 'grains';
  let lastPlain = 0;
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (claimSignals()) abort.abort(); // interrupted while starting
  let summary: DemoSummary;
  try {
    summary = await run({
      durationS, provider, node: values.node, format, streams, unpaced: values.unpaced === true, pollMode, metrics, signal: abort.signal, keep: values.keep === true,
      log: (s) => { if (logFormat === 'json') process.stderr.write(formatEvent('info', s, { endpoint: 'demo' })); else if (!values.json) console.log(s); },
      onProgress: (p) => {
        if (values.json) return;
        if (tty) process.stdout.write(`\r${fitToColumns(progressLine(p, unit), process.stdout.columns)}\x1b[K`);
        else if (p.elapsedS - lastPlain >= 1) { lastPlain = p.elapsedS; console.log(progressLine(p, unit)); }
      },
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (tty) process.stdout.write('\n');
  if (values.json) console.log(JSON.stringify(summary, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2));
  else console.log(summaryText(summary));
  if (summary.interrupted) return ExitCode.INTERRUPTED;
  return summary.ok ? ExitCode.OK : ExitCode.FAILURE;
}
