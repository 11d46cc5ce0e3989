/** The bench's flows: NMOS flow definitions and how each scenario transfers its grains. */
import { randomUUID } from 'node:crypto';

export interface BenchFormat {
  name: string;
  kind: 'video' | 'audio';
  mediaType: 'video/v210' | 'video/v210a' | 'audio/float32';
  width: number;
  height: number;
  /** Grain rate (video) or sample rate (audio). */
  rate: { numerator: number; denominator: number };
  /** Video: the grain goes as this many slice ranges (1 = whole grain, follow mode). */
  sliceRanges: number;
  channels?: number;
  /** Audio: samples per committed window (10 ms). */
  windowSamples?: number;
}

const video = (name: string, width: number, height: number, mediaType: BenchFormat['mediaType'] = 'video/v210', sliceRanges = 1): BenchFormat =>
  ({ name, kind: 'video', mediaType, width, height, rate: { numerator: 50, denominator: 1 }, sliceRanges });

export const FORMATS: Record<string, BenchFormat> = {
  '1080p50': video('1080p50', 1920, 1080),
  '2160p50': video('2160p50', 3840, 2160),
  'v210a-slices': video('1080p50 v210a 4 slices', 1920, 1080, 'video/v210a', 4),
  audio16: { name: 'audio 16 ch 48 kHz', kind: 'audio', mediaType: 'audio/float32', width: 0, height: 0, rate: { numerator: 48000, denominator: 1 }, sliceRanges: 1, channels: 16, windowSamples: 480 },
  /** The suite's small flow (a quick run moves real grains in seconds). */
  small: video('320x180p50', 320, 180),
};

export function flowDefOf(f: BenchFormat, stream: number): string {
  const common = { id: randomUUID(), label: `mxl-fabrics bench ${f.name} #${stream}`, description: 'mxl-fabrics bench', tags: { 'urn:x-nmos:tag:grouphint/v1.0': [`mxl-fabrics-bench-${stream}:${f.kind}`] } };
  if (f.kind === 'audio') return JSON.stringify({ ...common, format: 'urn:x-nmos:format:audio', media_type: f.mediaType, sample_rate: f.rate, channel_count: f.channels, bit_depth: 32 });
  return JSON.stringify({ ...common, format: 'urn:x-nmos:format:video', media_type: f.mediaType, grain_rate: f.rate, frame_width: f.width, frame_height: f.height, interlace_mode: 'progressive', colorspace: 'BT709', components: [] });
}

/** Grains (or audio windows) per second the flow carries when paced. */
export const unitsPerSecond = (f: BenchFormat): number => (f.kind === 'audio' ? f.rate.numerator / (f.windowSamples! * f.rate.denominator) : f.rate.numerator / f.rate.denominator);
