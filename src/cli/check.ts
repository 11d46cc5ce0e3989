/**
 * `mxl-fabrics check`: the far end of `mxl-fabrics writer`. Follows a flow of a domain and
 * verifies every grain (or sample window) against the payload its index determines:
 * counts ok / corrupt / missing / late, and the latency from the grain's timestamp (its
 * index on the TAI clock) to when this reader saw it. Exit 1 when a grain was corrupt or
 * the count was not reached.
 */
import { LatencyStats } from '../demo/latency-stats.js';
import { FabricsError } from '../errors.js';
import {
  MxlInstance, canonicalUuid, indexToTimestamp, taiNow, type ContinuousFlowReader, type DiscreteFlowReader, type Rational,
} from '../domain/index.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { Log, PROGRESS_INTERVAL_MS, parseFlags, requireDomain, untilStopped } from './endpoint-options.js';
import { patternFor, samplesMatch, windowSamples } from './synthetic.js';

export const checkHelp = `usage: mxl-fabrics check -d DOMAIN -f FLOW_ID [--count N] [--duration S] [--wait S] [--json] [-q]

Verifies a flow that \`mxl-fabrics writer\` produced, wherever it was carried to: follows
flow FLOW_ID in DOMAIN from the first grain it sees and compares every grain (or 10 ms
sample window) with the payload its index determines. Prints the counts on stdout:
  ok        arrived intact
  corrupt   arrived with other bytes (wrong slot, torn or stale write)
  missing   never arrived, while later grains did (or was marked invalid by the writer)
  late      overwritten before this reader got to it (the reader was too slow)
and the latency from each grain's timestamp (its index on the TAI clock) to its arrival.
  -d, --domain     MXL domain directory holding the flow (required)
  -f, --flow       id (UUID) of the flow to check (required; see \`mxl-fabrics flows\`)
      --count N    stop after N grains or windows (default: until --duration or SIGINT)
      --duration   stop after S seconds
      --wait S     give up if no grain arrives for S seconds (default 10)
      --json       print the counts as JSON
  -q, --quiet      no progress lines
      --verbose    stack traces on errors
  -h, --help       this text

exit codes: 0 nothing corrupt (and --count reached), 1 a corrupt grain, the count not
reached, or no grain at all, 2 bad options`;

export interface CheckCounts { ok: number; corrupt: number; missing: number; late: number; firstIndex: string | null; lastIndex: string | null; latencyP50Ms: number; latencyP99Ms: number }

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const positive = (cmd: string, flag: string, v: unknown): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0)) throw new UsageError(`${cmd}: --${flag} must be a number > 0, not ${JSON.stringify(v)}`);
  return n;
};

export async function runCheck(argv: string[]): Promise<number> {
  const values = parseFlags('check', argv, {
    domain: { type: 'string', short: 'd' },
    flow: { type: 'string', short: 'f' },
    count: { type: 'string' },
    duration: { type: 'string' },
    wait: { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { console.log(checkHelp); return 0; }
  const count = positive('check', 'count', values.count);
  if (count !== undefined && !Number.isInteger(count)) throw new UsageError(`check: --count must be a whole number, not ${values.count}`);
  const durationS = positive('check', 'duration', values.duration);
  const waitMs = (positive('check', 'wait', values.wait) ?? 10) * 1000;
  const domain = requireDomain('check', values.domain as string | undefined);
  if (!values.flow) throw new UsageError('check: -f/--flow FLOW_ID is required (the id of the flow to verify)');
  const flowId = canonicalUuid(values.flow as string);
  if (!flowId) throw new UsageError(`check: -f takes a flow id (a UUID), not ${JSON.stringify(values.flow)}`);

  const log = new Log(process.stderr, values.quiet === true);
  const inst = new MxlInstance(domain);
  const stop = untilStopped();
  const c = { ok: 0, corrupt: 0, missing: 0, late: 0 };
  const latency = new LatencyStats();
  let first: bigint | null = null;
  let last: bigint | null = null;
  let running = true;
  let stalled = false;
  const done = () => c.ok + c.corrupt + c.missing + c.late;
  const seen = (index: bigint, rate: Rational) => {
    first ??= index;
    last = index;
    latency.add(Number(taiNow() - indexToTimestamp(index, rate)));
  };
  try {
    const reader = (() => {
      try {
        return inst.openFlowReader(flowId);
      } catch (e) {
        if (e instanceof FabricsError && e.code === 'MXL_ERR_FLOW_NOT_FOUND') {
          throw new FabricsError('MXL_ERR_FLOW_NOT_FOUND', `check: flow ${flowId} not found in domain ${domain}: start its target (or writer) first, or run \`mxl-fabrics flows -d ${domain}\``, { cause: e });
        }
        throw e;
      }
    })();
    log.line(`check: verifying flow ${flowId} in ${domain}`);
    const timer = setInterval(() => log.progress(`check: ok ${c.ok}, corrupt ${c.corrupt}, missing ${c.missing}, late ${c.late}, latency p50 ${latency.percentileMs(50).toFixed(2)} ms`), PROGRESS_INTERVAL_MS);
    const deadline = durationS ? setTimeout(() => { running = false; }, durationS * 1000) : undefined;
    stop.stopped.then(() => { running = false; }, () => undefined);
    const enough = () => !running || (count !== undefined && done() >= count);
    try {
      if (reader.kind === 'continuous') await checkSamples(reader, enough);
      else await checkGrains(reader, enough);
    } finally {
      clearInterval(timer);
      clearTimeout(deadline);
      reader.close();
    }
  } finally {
    stop.dispose();
    log.end();
    inst.close();
  }
  const out: CheckCounts = {
    ...c, firstIndex: first === null ? null : String(first), lastIndex: last === null ? null : String(last),
    latencyP50Ms: latency.percentileMs(50), latencyP99Ms: latency.percentileMs(99),
  };
  if (values.json) console.log(JSON.stringify({ ...out, stalled }));
  else {
    console.log(`ok ${c.ok} corrupt ${c.corrupt} missing ${c.missing} late ${c.late}` + (first !== null ? ` (indices ${first}..${last})` : ''));
    console.log(`latency from the grain timestamp: p50 ${out.latencyP50Ms.toFixed(2)} ms, p99 ${out.latencyP99Ms.toFixed(2)} ms`);
  }
  if (stalled) log.line(`check: nothing arrived for ${waitMs / 1000} s: stopped`);
  const short = count !== undefined && done() < count;
  return c.corrupt > 0 || c.ok === 0 || short ? ExitCode.FAILURE : ExitCode.OK;

  /** Waits for the head to move past 0 (the first grain), or gives up after waitMs. */
  async function firstHead(r: DiscreteFlowReader | ContinuousFlowReader): Promise<bigint | undefined> {
    const until = Date.now() + waitMs;
    while (running && r.flowHeader.headIndex === 0n) {
      if (Date.now() > until) { stalled = true; return undefined; }
      await sleep(10);
    }
    return running ? r.flowHeader.headIndex : undefined;
  }

  async function checkGrains(r: DiscreteFlowReader, enough: () => boolean): Promise<void> {
    const g = r.geometry;
    const rate = g.grainRate;
    const pattern = patternFor(g);
    const scratch = new Uint8Array(g.grainSize);
    const periodMs = (1000 * (rate.denominator ?? 1)) / rate.numerator;
    let index = await firstHead(r);
    if (index === undefined) return;
    let lastArrival = Date.now();
    while (!enough()) {
      const res = await r.getGrain(index, { timeoutMs: Math.max(20, 2 * periodMs) });
      const head = r.flowHeader.headIndex;
      if (res.status === 'OK') {
        lastArrival = Date.now();
        seen(index, rate);
        if (res.invalid) c.missing++;
        else {
          const same = pattern.matches(res.payload!, index, scratch);
          // Lapped while comparing: the bytes were not this grain's any more.
          if (r.getGrainSync(index).status !== 'OK') c.late++;
          else if (same) c.ok++;
          else c.corrupt++;
        }
        index++;
      } else if (res.status === 'TOO_LATE') {
        c.late++;
        index = head > index ? head : index + 1n;
      } else if (head > index + 2n) {
        // Later grains are here and this one is not (2 grains of slack for writes in flight).
        c.missing++;
        index++;
      } else if (Date.now() - lastArrival > waitMs) {
        stalled = true;
        return;
      }
    }
  }

  async function checkSamples(r: ContinuousFlowReader, enough: () => boolean): Promise<void> {
    const rate = r.geometry.grainRate;
    const n = windowSamples(rate);
    const step = BigInt(n);
    const head = await firstHead(r);
    if (head === undefined) return;
    let end = (head / step + 1n) * step;
    let lastArrival = Date.now();
    while (!enough()) {
      const res = await r.getSamples(end, n, 100);
      if (res.status === 'OK') {
        lastArrival = Date.now();
        seen(end, rate);
        const same = samplesMatch(res.channels, end, n);
        if (r.getSamplesSync(end, n).status !== 'OK') c.late++;
        else if (same) c.ok++;
        else c.corrupt++;
        end += step;
      } else if (res.status === 'TOO_LATE') {
        c.late++;
        end = (r.flowHeader.headIndex / step + 1n) * step;
      } else if (Date.now() - lastArrival > waitMs) {
        stalled = true;
        return;
      }
    }
  }
}
