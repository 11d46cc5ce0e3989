/**
 * Shared by `mxl-fabrics flows`, `target` and `initiator`: flag parsing that always fails
 * with one line, domain and provider checks, the stderr log with its progress line, and
 * the run-until-signal loop.
 */
import fs from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FabricsError } from '../errors.js';
import { parseFlowDef, type FlowDef } from '../domain/index.js';
import { getInterfaces } from '../fabrics/interfaces.js';
import type { ProviderName } from '../fabrics/provider.js';
import { POLL_MODES, type PollMode } from '../ipc/control-block.js';
import { UsageError } from './exit-codes.js';
import { EventLog, LOG_FORMATS, type LogFields, type LogFormat, type LogLevel } from '../log/event-log.js';
import { checkEndpointName } from '../metrics/exporter.js';
import { claimSignals } from './process-guards.js';
import { readUserFile } from '../util/bounded-read.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs (strict, no positionals) whose failures are one-line UsageErrors naming the command. */
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export function parseFlags(cmd: string, argv: string[], options: Options): FlagValues {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as FlagValues;
  } catch (e) {
    const err = e as Error & { code?: string };
    if (!(err.code ?? '').startsWith('ERR_PARSE_ARGS')) throw e;
    // Node's messages can span lines ("argument is ambiguous.\nDid you forget...").
    const text = err.message.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
    throw new UsageError(`${cmd}: ${text}`);
  }
}

/** The -d/--domain value: required, an existing directory. */
export function requireDomain(cmd: string, dir: string | undefined): string {
  if (!dir) throw new UsageError(`${cmd}: -d/--domain DIR is required (the MXL domain directory, e.g. /dev/shm/mxl)`);
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FabricsError('MXL_ERR_NOT_FOUND', `${cmd}: domain ${dir} does not exist: create it (mkdir -p ${dir}) or pass the domain your MXL applications use`, { field: 'domain' });
    throw new FabricsError('MXL_ERR_PERMISSION_DENIED', `${cmd}: cannot access domain ${dir} (${code ?? (e as Error).message})`, { field: 'domain' });
  }
  if (!st.isDirectory()) throw new FabricsError('MXL_ERR_INVALID_ARG', `${cmd}: domain ${dir} is not a directory`, { field: 'domain' });
  return dir;
}

/** --log-format: text (default) or json (one event per line). */
export function parseLogFormat(cmd: string, s: string | undefined): LogFormat {
  if (s === undefined) return 'text';
  if (!(LOG_FORMATS as readonly string[]).includes(s)) throw new UsageError(`${cmd}: --log-format must be text or json, not ${JSON.stringify(s)}`);
  return s as LogFormat;
}

/** --name: the endpoint label in metrics and logs (default: the runtime's target-1 / initiator-1). */
export function parseEndpointName(cmd: string, s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  try {
    return checkEndpointName(s);
  } catch (e) {
    throw new UsageError(`${cmd}: --name ${(e as Error).message}`);
  }
}
/** The -f FLOW_DEF.json value of `target` and `writer`: the file's text and its parsed definition. */
export function readFlowDefArg(cmd: string, file: string | undefined, what = 'an NMOS flow definition'): { text: string; def: FlowDef } {
  if (!file) throw new UsageError(`${cmd}: -f/--flow FLOW_DEF.json is required (${what})`);
  let text: string;
  try {
    text = readUserFile(file, { what: 'flow definition', field: 'flow' });
  } catch (e) {
    const err = e as FabricsError;
    throw new FabricsError(err.code, `${cmd}: ${err.message}: -f takes the path of an NMOS flow JSON file`, { field: 'flow', cause: e });
  }
  try {
    return { text, def: parseFlowDef(text) };
  } catch (e) {
    throw new FabricsError('MXL_ERR_INVALID_ARG', `${cmd}: ${file} is not a usable flow definition: ${oneLine((e as Error).message)}`, { field: 'flow', cause: e });
  }
}


export function parsePollMode(cmd: string, s: string | undefined): PollMode {
  if (s === undefined) return 'hybrid';
  if (!(POLL_MODES as readonly string[]).includes(s)) throw new UsageError(`${cmd}: --poll must be busy, hybrid or blocking, not ${JSON.stringify(s)}`);
  return s as PollMode;
}

/** `--metrics HOST:PORT`, `[IPv6]:PORT` or just `PORT` (127.0.0.1). Port 0 picks a free one. */
export function parseHostPort(cmd: string, s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s) ?? (/^\d{1,5}$/.test(s) ? [s, undefined, '127.0.0.1', s] : null);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new UsageError(`${cmd}: --metrics takes HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464 or 0.0.0.0:9464), not ${JSON.stringify(s)}`);
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

const PROVIDERS: readonly string[] = ['any', 'tcp', 'verbs', 'efa', 'shm'];
/** Upstream demo's ranking (docs/protocol.md §7.1): efa 4 > verbs 3 > tcp 2 > shm 1. */
const PRIORITY: Record<string, number> = { efa: 4, verbs: 3, tcp: 2, shm: 1 };

/** The -p value: undefined or 'any' means "pick one". */
export function parseProviderFlag(cmd: string, s: string | undefined): ProviderName | undefined {
  if (s === undefined || s === 'any') return undefined;
  if (!PROVIDERS.includes(s)) throw new UsageError(`${cmd}: -p/--provider must be tcp, verbs, efa or shm, not ${JSON.stringify(s)}`);
  return s as ProviderName;
}

/**
 * Like upstream's demo: among the interfaces usable for remote writes (filtered by
 * provider and node when given), the highest-priority provider wins, first entry on ties;
 * the entry's node becomes the local address unless one was given. For shm the node is
 * left empty so every endpoint gets a unique name on this host.
 */
export function pickInterface(cmd: string, provider: ProviderName | undefined, node: string | undefined): { provider: ProviderName; node?: string } {
  const list = getInterfaces({ provider: provider ?? 'any', node });
  if (list.length === 0) {
    const what = `${provider ?? 'any provider'}${node ? ` on node ${node}` : ''}`;
    throw new FabricsError('MXL_ERR_NO_FABRIC', `${cmd}: no fabric interface for ${what}: run \`mxl-fabrics info\` to see what this host offers`, { field: node ? 'node' : 'provider' });
  }
  let best = list[0];
  for (const i of list) if (PRIORITY[i.provider] > PRIORITY[best.provider]) best = i;
  return { provider: best.provider, node: node ?? (best.provider === 'shm' ? undefined : best.address.node) };
}

/**
 * A line rewritten in place must not wrap: a wrapped line leaves its first half behind at
 * every rewrite. Cut to the terminal's width less one column (the cursor), with an ellipsis.
 */
export function fitToColumns(text: string, columns: number | undefined): string {
  const width = (columns && columns > 10 ? columns : 80) - 1;
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/**
 * Log lines go to stderr (stdout stays for data such as `target -t -`). On a terminal
 * the progress line is rewritten in place; otherwise it is an ordinary line.
 */
export class Log {
  private onProgressLine = false;
  private readonly tty: boolean;
  /** Set with --log-format json: every line and progress line is one JSON event. */
  private readonly json?: EventLog;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr, readonly quiet = false, format: LogFormat = 'text', fields: LogFields = {}) {
    this.tty = stream.isTTY === true;
    if (format === 'json') this.json = new EventLog(stream, fields);
  }

  line(text: string, level: LogLevel = 'info', fields?: LogFields): void {
    if (this.json) { this.json.write(level, text, fields); return; }
    if (this.onProgressLine) this.stream.write('\n');
    this.onProgressLine = false;
    this.stream.write(`${text}\n`);
  }

  progress(text: string): void {
    if (this.quiet) return;
    if (this.json) { this.json.write('info', text); return; }
    if (this.tty) {
      this.stream.write(`\r\x1b[K${fitToColumns(text, this.stream.columns)}`);
      this.onProgressLine = true;
    } else this.stream.write(`${text}\n`);
  }

  end(): void {
    if (this.onProgressLine) this.stream.write('\n');
    this.onProgressLine = false;
  }
}

export const PROGRESS_INTERVAL_MS = 2000;

export type StopReason = { kind: 'signal'; signal: NodeJS.Signals } | { kind: 'error'; error: Error };

/**
 * Resolves at SIGINT/SIGTERM, or when `failed` is called. A second signal while the
 * command is still stopping exits at once with 130.
 */
export function untilStopped(): { stopped: Promise<StopReason>; fail: (e: Error) => void; dispose: () => void } {
  let resolve!: (r: StopReason) => void;
  const stopped = new Promise<StopReason>((r) => { resolve = r; });
  let count = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++count > 1) process.exit(130);
    resolve({ kind: 'signal', signal });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A signal that came while the command was still starting stops it as soon as it runs.
  const early = claimSignals();
  if (early) onSignal(early);
  return {
    stopped,
    fail: (error) => resolve({ kind: 'error', error }),
    // Keep handling signals until exit: a late second signal still means "exit now".
    dispose: () => { count = Math.max(count, 1); },
  };
}

/** Rate per second of a counter between two progress ticks. */
export class RateMeter {
  private last: number;
  private lastT = process.hrtime.bigint();
  constructor(private readonly read: () => number) { this.last = read(); }
  tick(): { rate: number; total: number } {
    const v = this.read();
    const t = process.hrtime.bigint();
    const dt = Number(t - this.lastT) / 1e9;
    const rate = dt > 0 ? (v - this.last) / dt : 0;
    this.last = v;
    this.lastT = t;
    return { rate, total: v };
  }
}

/** One line, whatever the error carried (worker errors can hold several). */
export const oneLine = (s: string): string => s.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');

/** Writes a file atomically (temp file + rename), so a reader never sees half of it. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
