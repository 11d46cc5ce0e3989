/** Small helpers shared by the metrics tests. */
import { Worker } from 'node:worker_threads';

export interface Sample { name: string; labels: Record<string, string>; value: number; raw: string }

/** Parses Prometheus text exposition 0.0.4 sample lines (enough for our own output). */
export function parseExposition(text: string): { samples: Sample[]; types: Map<string, string>; helps: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m) { types.set(m[1], m[2]); continue; }
    m = /^# HELP (\S+) (.*)$/.exec(line);
    if (m) { helps.set(m[1], m[2]); continue; }
    if (line.startsWith('#')) continue;
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    samples.push({ name: m[1], labels, value: Number(m[3]), raw: line });
  }
  return { samples, types, helps };
}

/** The single sample with this name whose labels include `match`; throws if not exactly one. */
export function one(samples: Sample[], name: string, match: Record<string, string>): Sample {
  const hits = samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${hits.length} samples for ${name} ${JSON.stringify(match)}`);
  return hits[0];
}

/** Runs the stats worker fixture to completion (or until `onStart` resolves, for stress). */
export function runStatsWorker(buffer: SharedArrayBuffer, mode: 'script' | 'stress', iterations?: number): { worker: Worker; done: Promise<void> } {
  const worker = new Worker(new URL('./fixtures/stats-worker.js', import.meta.url), { workerData: { buffer, mode, iterations } });
  const done = new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`stats worker exited with ${code}`))));
  });
  return { worker, done };
}
