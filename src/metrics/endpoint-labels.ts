/** The exporter labels of a started runtime endpoint: media kind from its flow, and the flow id. */
import { parseFlowDef, readFlowDef } from '../domain/index.js';
import type { EndpointLabels, MediaKind } from './exporter.js';

interface StartedEndpoint {
  readonly kind: 'grains' | 'samples';
  readonly flowId: string;
  readonly config: { readonly domain: string };
}

/** Audio for sample endpoints; video or data from the flow's definition (video if it cannot be read). */
export function endpointLabels(h: StartedEndpoint, provider: string): EndpointLabels {
  let kind: MediaKind = 'audio';
  if (h.kind === 'grains') {
    try {
      kind = parseFlowDef(readFlowDef(h.config.domain, h.flowId)).format === 'data' ? 'data' : 'video';
    } catch {
      kind = 'video';
    }
  }
  return { provider, kind, flowId: h.flowId };
}
