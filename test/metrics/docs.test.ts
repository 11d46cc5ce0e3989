import test from 'ava';
import { readFileSync } from 'node:fs';
import { MetricsExporter } from '../../src/metrics/exporter.js';
import { COMPLETION_ERROR_CODES, LATENCY_BUCKETS_SECONDS, STATS_LAYOUT, Word } from '../../src/metrics/endpoint-stats.js';

const doc = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');
/** The doc with line breaks folded, for phrases that wrap. */
const flat = doc.replace(/\s+/g, ' ');
const EP = ['role', 'endpoint', 'provider', 'kind'];

/** Rows of the metric reference table: name → { type, labels }. */
function table(): Map<string, { type: string; labels: string[] }> {
  const rows = new Map<string, { type: string; labels: string[] }>();
  for (const line of doc.split('\n')) {
    const m = /^\| `(mxl_fabrics_[a-z0-9_]+)` \| (\w+) \| ([^|]*) \|/.exec(line);
    if (!m) continue;
    const labels = m[3].split(',').map((s) => s.trim()).flatMap((s) => (s === 'EP' ? EP : s === '—' ? [] : [s.replace(/`/g, '')]));
    rows.set(m[1], { type: m[2], labels });
  }
  return rows;
}

test('docs/metrics.md lists exactly the exported metrics with their types and labels', (t) => {
  const rows = table();
  const exp = new MetricsExporter();
  const described = exp.describe();
  t.is(rows.size, described.length, `table rows ${[...rows.keys()].join(', ')}`);
  for (const d of described) {
    const r = rows.get(d.name);
    t.truthy(r, `${d.name} missing from docs/metrics.md`);
    t.is(r?.type, d.type, d.name);
    t.deepEqual(r?.labels, [...d.labels], d.name);
  }
});

test('docs/metrics.md states the buckets, error codes and layout size in force', (t) => {
  t.true(flat.includes(LATENCY_BUCKETS_SECONDS.join(', ') + ', +Inf'));
  t.true(flat.includes(COMPLETION_ERROR_CODES.map((c) => `\`${c}\``).join(', ')));
  t.true(flat.includes(`total ${STATS_LAYOUT.words} words (${STATS_LAYOUT.bytes} bytes)`));
  t.true(doc.includes(`## Stats buffer layout (v${STATS_LAYOUT.version})`));
  t.regex(doc, new RegExp(`\\| ${Word.COMPLETION_ERRORS}–${Word.COMPLETION_ERRORS + COMPLETION_ERROR_CODES.length - 1} \\| completion errors`));
  t.regex(doc, new RegExp(`\\| ${STATS_LAYOUT.histogramBase}–${STATS_LAYOUT.histogramBase + STATS_LAYOUT.histogramStride - 1} \\| stage \`transfer\``));
  t.regex(doc, new RegExp(`\\| ${Word.FLOW_LAG_GRAINS} \\| flow lag`));
});

test('docs/metrics.md names every reason of every reason label, and the layout of the fault words', async (t) => {
  const { PEER_FAILURE_REASONS, SKIP_REASONS } = await import('../../src/metrics/endpoint-stats.js');
  const { DROP_REASONS } = await import('../../src/fabrics/media/drops.js');
  for (const r of [...SKIP_REASONS, ...DROP_REASONS, ...PEER_FAILURE_REASONS]) t.true(flat.includes(`\`${r}\``), r);
  t.regex(doc, new RegExp(`\\| ${Word.SKIPPED}–${Word.SKIPPED + SKIP_REASONS.length - 1} \\| skipped transfers`));
  t.regex(doc, new RegExp(`\\| ${Word.DROPS}–${Word.DROPS + DROP_REASONS.length - 1} \\| dropped writes`));
  t.regex(doc, new RegExp(`\\| ${Word.PEER_FAILURES}–${Word.PEER_FAILURES + PEER_FAILURE_REASONS.length - 1} \\| peer failures`));
  t.regex(doc, new RegExp(`\\| ${STATS_LAYOUT.peerBase}–${STATS_LAYOUT.words - 1} \\| peer area`));
});
