/**
 * `mxl-fabrics writer`: a synthetic MXL source. Creates the flow of a flow definition in a
 * domain and commits grains (or 10 ms sample windows) at the flow's real rate on the TAI
 * clock, each with the payload its index determines (src/cli/synthetic.ts), so that
 * `mxl-fabrics check` can verify it after any number of hops. Runs until SIGINT/SIGTERM or
 * --duration.
 */
import { MxlInstance, currentIndex, nsUntilIndex, type ContinuousFlowWriter, type DiscreteFlowWriter } from '../domain/index.js';
import { UsageError } from './exit-codes.js';
import { Log, PROGRESS_INTERVAL_MS, RateMeter, parseFlags, readFlowDefArg, requireDomain, untilStopped } from './endpoint-options.js';
import { paintSamples, patternFor, windowSamples } from './synthetic.js';

export const writerHelp = `usage: mxl-fabrics writer -d DOMAIN -f FLOW_DEF.json [--duration S] [-q]

A synthetic source, like upstream's test source: creates the flow described by
FLOW_DEF.json in DOMAIN and commits grains at the flow's real rate (the TAI clock), each
with a payload determined by its index: moving colour bars with the index stamped in
(video/v210, video/v210a), a byte ramp (video/smpte291), 10 ms windows of tones
(audio/float32, audio/float64). \`mxl-fabrics check\` verifies that payload at the far end.
The examples/ folder of the package holds flow definitions to start from.
  -d, --domain     MXL domain directory (required, must exist)
  -f, --flow       NMOS flow definition JSON file (required; video, data or audio)
      --duration   seconds to write, then exit 0 (default: until SIGINT/SIGTERM)
  -q, --quiet      no progress lines
      --verbose    stack traces on errors
  -h, --help       this text`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runWriter(argv: string[]): Promise<number> {
  const values = parseFlags('writer', argv, {
    domain: { type: 'string', short: 'd' },
    flow: { type: 'string', short: 'f' },
    duration: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { console.log(writerHelp); return 0; }
  let durationMs = Infinity;
  if (values.duration !== undefined) {
    durationMs = Number(values.duration) * 1000;
    if (!(durationMs > 0)) throw new UsageError(`writer: --duration must be a number of seconds > 0, not ${JSON.stringify(values.duration)}`);
  }
  const domain = requireDomain('writer', values.domain as string | undefined);
  const { text, def } = readFlowDefArg('writer', values.flow as string | undefined);

  const log = new Log(process.stderr, values.quiet === true);
  const inst = new MxlInstance(domain);
  const stop = untilStopped();
  let written = 0;
  let skipped = 0;
  let running = true;
  let timer: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;
  try {
    const w = inst.createFlowWriter(text);
    const rate = w.geometry.grainRate;
    const audio = w.kind === 'continuous';
    const unit = audio ? 'windows' : 'grains';
    log.line(`writer: writing flow ${w.id} (${def.mediaType}, ${rate.numerator}/${rate.denominator ?? 1}${audio ? ' Hz' : ' fps'}) into ${domain}`);
    const meter = new RateMeter(() => written);
    timer = setInterval(() => {
      const { rate: r, total } = meter.tick();
      log.progress(`writer: ${r.toFixed(1)} ${unit}/s, ${total} ${unit}${skipped ? `, ${skipped} skipped (fell behind the clock)` : ''}`);
    }, PROGRESS_INTERVAL_MS);
    deadline = setTimeout(() => { running = false; }, Math.min(durationMs, 2 ** 31 - 1));
    const loop = audio ? writeSamples(w as ContinuousFlowWriter) : writeGrains(w as DiscreteFlowWriter);
    const why = await Promise.race([stop.stopped, loop.then(() => undefined)]);
    running = false;
    await loop;
    if (why?.kind === 'error') throw why.error;
    log.line(`writer: ${why ? `${why.signal}: ` : ''}stopped after ${written} ${unit}`);
    return 0;
  } finally {
    running = false;
    clearInterval(timer);
    clearTimeout(deadline);
    stop.dispose();
    log.end();
    inst.close();
  }

  async function writeGrains(w: DiscreteFlowWriter): Promise<void> {
    const rate = w.geometry.grainRate;
    const pattern = patternFor(w.geometry);
    let next = currentIndex(rate);
    while (running) {
      const now = currentIndex(rate);
      // Far behind the clock (a stalled machine): rejoin it rather than write the past.
      if (now - next > 5n) { skipped += Number(now - next); next = now; }
      while (next <= now) {
        const g = w.openGrain(next);
        pattern.paint(g.payload, next);
        w.commitGrain({});
        written++;
        next++;
      }
      await sleep(Math.max(1, Math.ceil(Number(nsUntilIndex(next, rate)) / 1e6)));
    }
  }

  async function writeSamples(w: ContinuousFlowWriter): Promise<void> {
    const rate = w.geometry.grainRate;
    const n = windowSamples(rate);
    const step = BigInt(n);
    // Windows end on multiples of n; the first one ends at the next boundary.
    let end = (currentIndex(rate) / step + 1n) * step;
    while (running) {
      const waitMs = Number(nsUntilIndex(end, rate)) / 1e6;
      if (waitMs > 0.5) { await sleep(waitMs - 0.5); continue; }
      const acc = w.openSamples(end, n);
      paintSamples(acc.channels, end, n);
      w.commitSamples();
      written++;
      end += step;
    }
  }
}
