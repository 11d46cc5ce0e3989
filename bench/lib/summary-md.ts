/** The markdown summary of a bench report: the scenario table, the paced table, highest N. */
import type { BenchReport, RunFigures, ScenarioResult } from './report.js';
import { range } from './rounds.js';

const f = (x: number | null | undefined, d = 1): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));

function lat(r: RunFigures | null, which: 'transfer' | 'endToEnd'): string {
  if (!r) return '—';
  const l = r.latencyMs[which];
  return `${f(l.p50, 2)} / ${f(l.p90, 2)} / ${f(l.p99, 2)} / ${f(l.max, 2)}`;
}

/** "lo–hi" of the rounds' values ("—" when none is a number). */
function span(xs: (number | null | undefined)[], d: number): string {
  const [lo, hi] = range(xs.map((x) => (typeof x === 'number' ? x : NaN)));
  return Number.isFinite(lo) ? `${f(lo, d)}–${f(hi, d)}` : '—';
}

const cpu = (r: RunFigures | null): string => (r ? `${f(r.cpu.initiator.processPct)} / ${f(r.cpu.target.processPct)}${r.cpu.target.carryPct == null ? '' : ` (carry ${f(r.cpu.target.carryPct)})`}` : '—');

function scenarioRow(s: ScenarioResult): string {
  const o = s.ours;
  const c = o?.counts;
  return `| ${s.name} | ${s.provider} | ${s.paced ? 'paced' : 'unpaced'} | ${s.streams} | ${f(o?.grainsPerSec)} | ${f(o?.gbitPerSec, 2)} | ${lat(o, 'transfer')} | ${lat(o, 'endToEnd')} | ${cpu(o)} | ${o ? f(o.peakRssBytes.initiator / 2 ** 20, 0) + ' / ' + f(o.peakRssBytes.target / 2 ** 20, 0) : '—'} | ${c ? `${c.late}${c.lateWarmup ? ` (+${c.lateWarmup})` : ''}/${c.lost}/${c.corrupt}` : '—'} | ${c ? `${c.verified}/${c.written}` : '—'} | ${s.baseline ? f(s.baseline.grainsPerSec) : '—'} | ${f(s.ratios?.grainsPerSec, 2)} | ${s.ok ? 'ok' : 'FAIL'}${s.noisy ? ' (noisy)' : ''} |`;
}

export function summaryMarkdown(r: BenchReport): string {
  const L: string[] = [];
  L.push(`# mxl-fabrics bench, ${r.date}`, '');
  L.push(`${r.machine.hostname}: ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.kernel}, instance ${r.machine.instanceType}; node ${r.versions.node}, mxl-fabrics ${r.versions.mxlFabrics}, libfabric ${r.versions.libfabric}`, '');
  if (r.rdmaOffload) L.push(`RDMA write offload: ${String(r.rdmaOffload.offloaded)} (rdma_write_bytes delta ${r.rdmaOffload.rdmaWriteBytes ?? 'n/a'})`, '');
  L.push('## Scenarios', '');
  L.push('Latency in ms as p50 / p90 / p99 / max; CPU in % of one core as initiator / target (whole process), carry = the target process without the bench\'s destination reader threads; RSS in MiB as initiator / target; late (+ late in the warm-up, see Method).', '');
  L.push('| scenario | provider | pacing | streams | grains/s | Gbit/s | transfer latency | end-to-end latency | CPU | peak RSS | late/lost/corrupt | verified | raw C grains/s | ratio | |');
  L.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const s of r.scenarios) L.push(scenarioRow(s));
  const paced = r.scenarios.filter((s) => s.paced && s.baseline);
  if (paced.length) {
    L.push('', '## Paced: ours against raw C in the same run', '');
    L.push('CPU target: carry (our target process without the bench\'s destination reader threads) / raw C\'s target process (which only receives), then our whole target process and its ratio; the readers\' own CPU in the last column.', '');
    L.push('| scenario | provider | CPU initiator ours / C (ratio) | CPU target carry / C (ratio) | CPU target whole process (ratio) | transfer p50 ours / C | transfer p99 ours / C | end-to-end p50 / p99 ours | source writer CPU (own process) | bench readers CPU |');
    L.push('|---|---|---|---|---|---|---|---|---|---|');
    for (const s of paced) {
      const o = s.ours;
      const b = s.baseline!;
      L.push(`| ${s.name} | ${s.provider} | ${f(o?.cpu.initiator.processPct)} / ${f(b.cpu.initiator.processPct)} (${f(s.ratios?.cpuInitiator, 2)}) | ${f(o?.cpu.target.carryPct)} / ${f(b.cpu.target.processPct)} (${f(s.ratios?.cpuTargetCarry, 2)}) | ${f(o?.cpu.target.processPct)} (${f(s.ratios?.cpuTarget, 2)}) | ${f(o?.latencyMs.transfer.p50, 2)} / ${f(b.latencyMs.transfer.p50, 2)} | ${f(o?.latencyMs.transfer.p99, 2)} / ${f(b.latencyMs.transfer.p99, 2)} | ${f(o?.latencyMs.endToEnd.p50, 2)} / ${f(o?.latencyMs.endToEnd.p99, 2)} | ${o?.cpu.initiator.sourcePct == null ? 'in the initiator' : f(o.cpu.initiator.sourcePct)} | ${f(o?.cpu.target.readerPct)} |`);
    }
  }
  const spread = r.scenarios.filter((s) => s.rounds && s.rounds.n > 1);
  if (spread.length) {
    L.push('', `## Spread over the rounds`, '');
    L.push('The figures above are medians of the rounds (Method, rounds); here the lowest–highest round, ours / raw C. CPU target: our carry / raw C\'s target process.', '');
    L.push('| scenario | provider | pacing | streams | rounds | grains/s | CPU initiator | CPU target | transfer p50 | transfer p99 | end-to-end p99 (ours) |');
    L.push('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const s of spread) {
      const rs = s.rounds!;
      const both = (pick: (x: RunFigures) => number | null | undefined, d = 1): string => `${span(rs.ours.map(pick), d)} / ${span(rs.baseline.map(pick), d)}`;
      L.push(`| ${s.name} | ${s.provider} | ${s.paced ? 'paced' : 'unpaced'} | ${s.streams} | ${rs.n} | ${both((x) => x.grainsPerSec)} | ${both((x) => x.cpu.initiator.processPct)} | ${span(rs.ours.map((x) => x.cpu.target.carryPct), 1)} / ${span(rs.baseline.map((x) => x.cpu.target.processPct), 1)} | ${both((x) => x.latencyMs.transfer.p50, 2)} | ${both((x) => x.latencyMs.transfer.p99, 2)} | ${span(rs.ours.map((x) => x.latencyMs.endToEnd.p99), 2)} |`);
    }
  }
  if (r.highestN.length) {
    L.push('', '## Concurrent 1080p50 streams: highest N with zero late and lost', '');
    L.push('| provider | ours | raw C | tried |', '|---|---|---|---|');
    for (const h of r.highestN) L.push(`| ${h.provider} | ${h.ours} | ${h.rawC ?? '—'} | ${h.tried.join(', ')} |`);
  }
  L.push('', '## Method', '');
  for (const [k, v] of Object.entries(r.method)) L.push(`- **${k}**: ${v}`);
  return L.join('\n') + '\n';
}
