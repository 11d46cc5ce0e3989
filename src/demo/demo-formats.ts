/** The demo's built-in source formats (NMOS flow definitions for our writer). */
import { randomUUID } from 'node:crypto';

export interface DemoFormat {
  name: string;
  kind: 'video' | 'audio';
  width: number;
  height: number;
  mediaType: 'video/v210' | 'video/v210a' | 'audio/float32';
  /** Grain rate (video) or sample rate (audio). */
  rate: { numerator: number; denominator: number };
  /** Audio: channels, and samples per channel in each committed window (10 ms). */
  channels?: number;
  windowSamples?: number;
}

export const DEMO_FORMATS: Record<string, DemoFormat> = {
  '1080p50': { name: '1080p50', kind: 'video', width: 1920, height: 1080, mediaType: 'video/v210', rate: { numerator: 50, denominator: 1 } },
  '2160p50': { name: '2160p50', kind: 'video', width: 3840, height: 2160, mediaType: 'video/v210', rate: { numerator: 50, denominator: 1 } },
  v210a: { name: '1080p50 v210a', kind: 'video', width: 1920, height: 1080, mediaType: 'video/v210a', rate: { numerator: 50, denominator: 1 } },
  audio: { name: 'audio 48 kHz 2 ch float32', kind: 'audio', width: 0, height: 0, mediaType: 'audio/float32', rate: { numerator: 48000, denominator: 1 }, channels: 2, windowSamples: 480 },
};

export function demoFlowDef(f: DemoFormat, stream: number): string {
  if (f.kind === 'audio') {
    return JSON.stringify({
      id: randomUUID(),
      label: `mxl-fabrics demo audio #${stream}`,
      description: 'synthetic tones from mxl-fabrics demo',
      format: 'urn:x-nmos:format:audio',
      media_type: f.mediaType,
      tags: { 'urn:x-nmos:tag:grouphint/v1.0': [`mxl-fabrics-demo-${stream}:audio`] },
      sample_rate: f.rate,
      channel_count: f.channels,
      bit_depth: 32,
    });
  }
  return JSON.stringify({
    id: randomUUID(),
    label: `mxl-fabrics demo ${f.name} #${stream}`,
    description: 'synthetic moving colour bars from mxl-fabrics demo',
    format: 'urn:x-nmos:format:video',
    media_type: f.mediaType,
    tags: { 'urn:x-nmos:tag:grouphint/v1.0': [`mxl-fabrics-demo-${stream}:video`] },
    grain_rate: f.rate,
    frame_width: f.width,
    frame_height: f.height,
    interlace_mode: 'progressive',
    colorspace: 'BT709',
    components: [],
  });
}
