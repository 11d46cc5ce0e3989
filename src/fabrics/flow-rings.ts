/**
 * Grain rings over MXL flows, zero copy: the grain files of a flow are registered in place.
 * A writer's ring commits landed grains into the flow (waking every local reader, ours and
 * libmxl's); a reader's ring is what an initiator sends from.
 */
import { FabricsError } from '../errors.js';
import type { DiscreteFlowReader, DiscreteFlowWriter, FlowReader, FlowWriter } from '../domain/index.js';
import type { GrainLayout } from './grain-protocol.js';
import type { GrainRing } from './grain-ring.js';

function layoutOf(g: { grainSize: number; totalSlices: number; sliceSizes: readonly number[] }): GrainLayout {
  return { grainSize: g.grainSize, totalSlices: g.totalSlices, sliceSizes: [...g.sliceSizes] };
}

function discrete<T extends { kind: string; id: string }>(f: T, what: string): void {
  if (f.kind !== 'discrete') {
    throw new FabricsError('MXL_ERR_INVALID_ARG', `flow ${f.id} is continuous (audio): grain ${what}s need a discrete flow`, { field: what });
  }
}

/** Target side: the writer's grain files; landed grains are committed through the writer. */
export function ringFromWriter(writer: FlowWriter): GrainRing {
  discrete(writer, 'writer');
  const w = writer as DiscreteFlowWriter;
  return {
    layout: layoutOf(w.geometry),
    slots: w.grainBuffers(),
    commitLanded: (slot, validSlices) => w.commitLanded(slot, validSlices),
  };
}

/** Initiator side: the reader's grain files. Open the reader with writableMapping for EFA. */
export function ringFromReader(reader: FlowReader): GrainRing {
  discrete(reader, 'reader');
  const r = reader as DiscreteFlowReader;
  return { layout: layoutOf(r.geometry), slots: r.grainBuffers() };
}
