/**
 * The bench's paced source in a process of its own, so the initiator process does only
 * what an MXL fabrics initiator does (upstream's demo reads a flow another process writes)
 * and its CPU compares with theirs. Protocol on stdin/stdout, one JSON line each:
 *
 *   argv[2] = {"domain", "format": BenchFormat, "flowDefs": [...], "durationS"}
 *   -> {"type":"ready","unitBytes"}      the flows exist (create the initiators now)
 *   <- "go"                               write for durationS at the flow's rate
 *   -> {"type":"done","written","sourceSkipped","cpuPct"}
 *   <- stdin closed                       close the writers and exit
 */
import readline from 'node:readline';
import { MxlInstance, type ContinuousFlowWriter, type DiscreteFlowWriter } from '../../src/index.js';
import { produceAudio, produceVideo } from './initiator-side.js';
import { CpuMeter } from './proc-stat.js';
import type { BenchFormat } from './scenarios.js';

const cfg = JSON.parse(process.argv[2]) as { domain: string; format: BenchFormat; flowDefs: string[]; durationS: number };
const inst = new MxlInstance(cfg.domain);
// Prefaulted, as raw C's buffers are (it memsets them) and as a source that has run for a
// while has its ring in memory: else the first ring pass pays a fault per page here, in the
// measured window (docs/bench.md, "The paced source is prefaulted").
const writers = cfg.flowDefs.map((d) => inst.createFlowWriter(d, { prefault: true }));
const f = cfg.format;
const unitBytes = f.kind === 'audio' ? f.windowSamples! * f.channels! * 4 : (writers[0] as DiscreteFlowWriter).geometry.grainSize;
const lines = readline.createInterface({ input: process.stdin });
const say = (o: object): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };
say({ type: 'ready', unitBytes });
lines.once('line', async () => {
  const counts = { written: 0, completed: 0, sourceSkipped: 0 };
  const cpu = CpuMeter.process().start();
  if (f.kind === 'audio') await produceAudio(f, true, cfg.durationS, writers as ContinuousFlowWriter[], counts);
  else await produceVideo(f, true, cfg.durationS, writers as DiscreteFlowWriter[], counts);
  say({ type: 'done', written: counts.written, sourceSkipped: counts.sourceSkipped, cpuPct: cpu.pct() });
});
lines.once('close', () => { inst.close(); process.exit(0); });
