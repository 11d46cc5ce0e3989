/** The demo's built-in source formats (NMOS flow definitions for our writer). */
import { randomUUID } from 'node:crypto';

export interface DemoFormat {
  name: string;
  width: number;
  height: number;
  mediaType: 'video/v210' | 'video/v210a';
  rate: { numerator: number; denominator: number };
}

export const DEMO_FORMATS: Record<string, DemoFormat> = {
  '1080p50': { name: '1080p50', width: 1920, height: 1080, mediaType: 'video/v210', rate: { numerator: 50, denominator: 1 } },
  '2160p50': { name: '2160p50', width: 3840, height: 2160, mediaType: 'video/v210', rate: { numerator: 50, denominator: 1 } },
  v210a: { name: '1080p50 v210a', width: 1920, height: 1080, mediaType: 'video/v210a', rate: { numerator: 50, denominator: 1 } },
};

export function demoFlowDef(f: DemoFormat, stream: number): string {
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
