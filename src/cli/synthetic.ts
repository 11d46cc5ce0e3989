/**
 * What `mxl-fabrics writer` puts into a flow and `mxl-fabrics check` expects to find: a
 * payload determined by the grain (or sample) index alone, so the far end can verify it
 * without any side channel. Video and data grains: the demo's TestPattern (moving colour
 * bars with the index stamped in; a byte ramp for data); audio: the demo's tones.
 */
import { TestPattern } from '../demo/test-pattern.js';
import { toneSample } from '../demo/demo-run.js';
import type { FlowGeometry, SampleArray } from '../domain/index.js';

export { toneSample };

export const patternFor = (g: FlowGeometry): TestPattern => TestPattern.forGeometry(g);

/** Audio windows of 10 ms (480 samples at 48 kHz), the demo's and upstream's usual batch. */
export const windowSamples = (sampleRate: { numerator: number; denominator?: number }): number =>
  Math.max(1, Math.round(sampleRate.numerator / (sampleRate.denominator ?? 1) / 100));

/** Fills channel views (fragments per channel) with the tone of samples [end - count, end). */
export function paintSamples(channels: SampleArray[][], end: bigint, count: number): void {
  for (let c = 0; c < channels.length; c++) {
    let x = end - BigInt(count);
    for (const f of channels[c]) for (let i = 0; i < f.length; i++, x++) f[i] = toneSample(x, c);
  }
}

/** Whether channel views hold exactly the tone of samples [end - count, end). */
export function samplesMatch(channels: SampleArray[][], end: bigint, count: number): boolean {
  for (let c = 0; c < channels.length; c++) {
    let x = end - BigInt(count);
    for (const f of channels[c]) for (let i = 0; i < f.length; i++, x++) if (f[i] !== toneSample(x, c)) return false;
  }
  return true;
}
