/**
 * What the exporter and a 1 s Prometheus scrape cost the data path: grains/s through a real
 * target and initiator (runtime workers, libfabric on loopback) with and without a scraper
 * polling /metrics every second, in alternating segments of the same run.
 *
 *   node build/bench/metrics/scrape-cost.js [--provider tcp|shm] [--rounds 4] [--segment-s 5]
 *        [--interval-ms 1000] [--json FILE]
 *
 * Setup: one Fabrics with metrics served on loopback; a writer worker commits small data
 * grains (video/smpte291, 4096 bytes) back to back into the source flow; the initiator
 * follows it (forwarding every grain it can, jumping ahead when lapped), so the target's
 * grain rate is the data path's capacity on this machine. The scraper is a child process
 * (like Prometheus, not on our event loop) fetching /metrics every --interval-ms during
 * "scrape" segments and idle during "quiet" ones. --rounds pairs of segments in ABBA order
 * (quiet-scrape, scrape-quiet, ...); the result is the median of each kind and their ratio
 * (goal: under 1 % apart). On a loaded machine the spread between segments of the same kind
 * is printed too: a difference below it is noise, not cost.
 * Each scrape's size and duration are reported too, and the exporter's own CPU per
 * collection (measured in-process afterwards), which bounds what a scrape can take.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { Fabrics } from '../../src/runtime/coordinator.js';
import { MxlInstance, type DiscreteFlowWriter } from '../../src/domain/index.js';
import { Word } from '../../src/metrics/endpoint-stats.js';

const FLOW = '3c1e9a57-8f2b-4d6e-b1a4-7e5d2c9f0b13';
const flowDef = JSON.stringify({
  id: FLOW, label: 'scrape cost bench', format: 'urn:x-nmos:format:data', tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['bench:scrape'] },
  grain_rate: { numerator: 200, denominator: 1 }, media_type: 'video/smpte291',
});

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const provider = arg('provider', 'tcp') as 'tcp' | 'shm';
  const rounds = Number(arg('rounds', '4'));
  const segmentS = Number(arg('segment-s', '5'));
  const intervalMs = Number(arg('interval-ms', '1000'));
  const jsonOut = arg('json', '');
  const mk = () => fs.mkdtempSync(path.join('/dev/shm', 'mxlf-bench-scrape-'));
  const srcDir = mk();
  const dstDir = mk();
  const fx = new Fabrics({ metrics: true });
  const stop = new SharedArrayBuffer(4);
  let writer: Worker | undefined;
  const scraper = (() => {
    let child: ReturnType<typeof fork> | undefined;
    return {
      start(url: string) { child = fork(new URL(import.meta.url).pathname, ['--scraper', url, String(intervalMs)], { stdio: 'inherit' }); },
      send(m: string) { child!.send(m); },
      report(): Promise<{ scrapes: number; bytes: number; ms: number }> { return new Promise((r) => { child!.once('message', r as never); child!.send('off'); }); },
      exit() { child?.send('exit'); },
    };
  })();
  try {
    const target = await fx.createTarget({ name: 'bench-rx', provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, domain: dstDir, flowDef, pollMode: 'busy' });
    writer = new Worker(new URL(import.meta.url), { workerData: { domain: srcDir, stop } });
    // Wait for the flow to exist before the initiator opens it.
    for (let i = 0; i < 200 && !fs.existsSync(path.join(srcDir, `${FLOW}.mxl-flow`)); i++) await sleep(10);
    const ini = await fx.createInitiator({ name: 'bench-tx', provider, domain: srcDir, flowId: FLOW, follow: true, pollMode: 'busy' });
    const connected = new Promise((r) => ini.once('connected', r));
    await ini.addTarget(target.info);
    await connected;
    const srv = await fx.serveMetrics();
    scraper.start(srv.url);
    const drain = (async () => { for await (const _ of target.grains()) { /* counted by the stats */ } })();
    await sleep(1000); // warm up

    const rates: Record<'quiet' | 'scrape', number[]> = { quiet: [], scrape: [] };
    let scrapeInfo = { scrapes: 0, bytes: 0, ms: 0 };
    for (let r = 0; r < rounds; r++) {
      // ABBA order, so a drift in the machine's load does not favour either kind.
      for (const kind of r % 2 === 0 ? (['quiet', 'scrape'] as const) : (['scrape', 'quiet'] as const)) {
        if (kind === 'scrape') scraper.send('on');
        const g0 = target.stats.read(Word.GRAINS);
        const t0 = performance.now();
        await sleep(segmentS * 1000);
        const rate = (target.stats.read(Word.GRAINS) - g0) / ((performance.now() - t0) / 1000);
        if (kind === 'scrape') {
          const s = await scraper.report();
          scrapeInfo = { scrapes: scrapeInfo.scrapes + s.scrapes, bytes: scrapeInfo.bytes + s.bytes, ms: scrapeInfo.ms + s.ms };
        }
        rates[kind].push(rate);
        console.log(`round ${r + 1} ${kind.padEnd(6)} ${rate.toFixed(0)} grains/s`);
      }
    }
    // The exporter's own CPU per scrape (main thread, collection and text), for scale.
    const t1 = performance.now();
    for (let i = 0; i < 200; i++) await fx.metrics!.metrics();
    const collectMs = (performance.now() - t1) / 200;
    const q = median(rates.quiet);
    const s = median(rates.scrape);
    const result = {
      provider, rounds, segmentS, intervalMs, quietGrainsPerS: q, scrapeGrainsPerS: s,
      quietSpreadPct: ((Math.max(...rates.quiet) - Math.min(...rates.quiet)) / q) * 100, ratio: s / q, differencePct: ((q - s) / q) * 100,
      scrapes: scrapeInfo.scrapes, meanScrapeBytes: scrapeInfo.bytes / Math.max(1, scrapeInfo.scrapes), meanScrapeMs: scrapeInfo.ms / Math.max(1, scrapeInfo.scrapes),
      collectMs, collectCorePct: (collectMs / intervalMs) * 100,
      rates,
    };
    console.log(`scrape-cost (${provider}): quiet median ${q.toFixed(0)} grains/s, with a ${intervalMs} ms scrape ${s.toFixed(0)} grains/s: ratio ${result.ratio.toFixed(4)} (${result.differencePct.toFixed(2)} % slower; goal < 1 %); ${result.scrapes} scrapes of ${result.meanScrapeBytes.toFixed(0)} bytes, ${result.meanScrapeMs.toFixed(1)} ms each; quiet segments spread ${result.quietSpreadPct.toFixed(1)} %; collecting a scrape takes ${collectMs.toFixed(2)} ms of main-thread CPU (${result.collectCorePct.toFixed(3)} % of a core at this interval)`);
    if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(result, null, 2));
    Atomics.store(new Int32Array(stop), 0, 1);
    await fx.close();
    await drain;
  } finally {
    Atomics.store(new Int32Array(stop), 0, 1);
    scraper.exit();
    await writer?.terminate();
    await fx.close();
    fs.rmSync(srcDir, { recursive: true, force: true });
    fs.rmSync(dstDir, { recursive: true, force: true });
  }
}

if (!isMainThread) {
  // Writer worker: commits grains back to back until told to stop (SAB word 0 set).
  const { domain, stop } = workerData as { domain: string; stop: SharedArrayBuffer };
  const flag = new Int32Array(stop);
  const inst = new MxlInstance(domain);
  const w = inst.createFlowWriter(flowDef) as DiscreteFlowWriter;
  for (let i = 1n; Atomics.load(flag, 0) === 0; i++) { w.openGrain(i); w.commitGrain({}); }
  w.close();
  inst.close();
} else if (process.argv[2] === '--scraper') {
  // Scraper child: fetch the URL every interval while "on"; report count, bytes and time.
  const [, , , url, intervalMs] = process.argv;
  let on = false;
  const stats = { scrapes: 0, bytes: 0, ms: 0 };
  process.on('message', (m: string) => {
    if (m === 'on') on = true;
    else if (m === 'off') { on = false; process.send!({ ...stats }); stats.scrapes = stats.bytes = stats.ms = 0; }
    else if (m === 'exit') process.exit(0);
  });
  const tick = async () => {
    if (on) {
      const t0 = performance.now();
      const body = await (await fetch(url)).text();
      stats.ms += performance.now() - t0;
      stats.bytes += body.length;
      stats.scrapes++;
    }
    setTimeout(tick, Number(intervalMs));
  };
  void tick();
} else {
  await main();
}
