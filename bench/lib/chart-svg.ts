/**
 * A small hand-written SVG chart: per scenario, a bar of throughput (Gbit/s, left axis)
 * and markers for transfer latency p50 / p90 / p99 (ms, right axis) joined by lines.
 */
import type { ScenarioResult } from './report.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '0');

export function chartSvg(scenarios: ScenarioResult[]): string {
  const rows = scenarios.filter((s) => s.ours);
  const W = Math.max(480, 90 + rows.length * 56);
  const H = 360;
  const top = 30;
  const bottom = 250; // plot area bottom; labels below
  const left = 60;
  const right = W - 60;
  const maxG = Math.max(0.001, ...rows.map((s) => s.ours!.gbitPerSec));
  const pcts = ['p50', 'p90', 'p99'] as const;
  const maxL = Math.max(0.001, ...rows.flatMap((s) => pcts.map((p) => s.ours!.latencyMs.transfer[p])).filter(Number.isFinite));
  const y = (v: number, max: number): number => bottom - ((bottom - top) * Math.max(0, v)) / max;
  const step = rows.length ? (right - left) / rows.length : 1;
  const colour = { p50: '#2a9d8f', p90: '#e9c46a', p99: '#e76f51' };
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="10">`);
  out.push(`<title>mxl-fabrics bench: throughput and transfer latency per scenario</title>`);
  out.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333"/>`);
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#333"/>`);
  out.push(`<line x1="${right}" y1="${top}" x2="${right}" y2="${bottom}" stroke="#333"/>`);
  out.push(`<text x="${left - 4}" y="${top - 8}" text-anchor="start">Gbit/s (bars), max ${num(maxG)}</text>`);
  out.push(`<text x="${right + 4}" y="${top - 8}" text-anchor="end">latency ms, max ${num(maxL)}</text>`);
  for (const k of [0, 0.5, 1]) {
    out.push(`<text x="${left - 4}" y="${num(y(k * maxG, maxG) + 3)}" text-anchor="end">${(k * maxG).toFixed(2)}</text>`);
    out.push(`<text x="${right + 4}" y="${num(y(k * maxL, maxL) + 3)}" text-anchor="start">${(k * maxL).toFixed(1)}</text>`);
  }
  rows.forEach((s, i) => {
    const o = s.ours!;
    const cx = left + step * (i + 0.5);
    const bw = Math.min(36, step * 0.6);
    const by = y(o.gbitPerSec, maxG);
    out.push(`<rect x="${num(cx - bw / 2)}" y="${num(by)}" width="${num(bw)}" height="${num(bottom - by)}" fill="#8ab6d6"><title>${esc(s.name)} ${esc(s.provider)}: ${o.gbitPerSec.toFixed(3)} Gbit/s</title></rect>`);
    const pts = pcts.map((p) => ({ p, v: o.latencyMs.transfer[p] })).filter((q) => Number.isFinite(q.v));
    if (pts.length > 1) out.push(`<polyline points="${pts.map((q, k) => `${num(cx - 8 + 8 * k)},${num(y(q.v, maxL))}`).join(' ')}" fill="none" stroke="#555"/>`);
    pts.forEach((q) => {
      const k = pcts.indexOf(q.p);
      out.push(`<circle cx="${num(cx - 8 + 8 * k)}" cy="${num(y(q.v, maxL))}" r="3" fill="${colour[q.p]}"><title>${q.p} ${q.v.toFixed(2)} ms</title></circle>`);
    });
    const label = `${s.name} ${s.provider}${s.paced ? '' : ' unpaced'}`;
    out.push(`<text transform="translate(${num(cx + 3)},${bottom + 8}) rotate(60)" text-anchor="start">${esc(label)}</text>`);
  });
  pcts.forEach((p, k) => {
    out.push(`<circle cx="${left + 10 + k * 50}" cy="${H - 10}" r="3" fill="${colour[p]}"/>`);
    out.push(`<text x="${left + 16 + k * 50}" y="${H - 7}">${p}</text>`);
  });
  out.push(`<rect x="${left + 160}" y="${H - 15}" width="10" height="10" fill="#8ab6d6"/><text x="${left + 174}" y="${H - 7}">Gbit/s</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
