/**
 * piscina task: checks one grain of a target flow byte for byte against what the demo's
 * generator wrote for that index (re-rendered here; cheaper than hashing 5-22 MB twice).
 * Runs in a pool thread, never on the main thread or the pollers. Each pool thread maps
 * the flow once.
 */
import { MxlInstance, type DiscreteFlowReader } from '../domain/index.js';
import { TestPattern } from './test-pattern.js';

export interface VerifyTask {
  domain: string;
  flowId: string;
  index: bigint;
  pattern: { lineBytes: number; lines: number; planes: { offset: number; lineBytes: number }[] };
}
export type VerifyResult = 'ok' | 'corrupt' | 'late' | 'missing';

interface Checker { instance: MxlInstance; reader: DiscreteFlowReader; pattern: TestPattern; scratch: Uint8Array }
const checkers = new Map<string, Checker>();

function checkerFor(t: VerifyTask): Checker {
  const key = `${t.domain}|${t.flowId}`;
  let c = checkers.get(key);
  if (!c) {
    const instance = new MxlInstance(t.domain);
    const reader = instance.openDiscreteFlowReader(t.flowId);
    c = { instance, reader, pattern: new TestPattern(t.pattern.lineBytes, t.pattern.lines, t.pattern.planes), scratch: new Uint8Array(reader.geometry.grainSize) };
    checkers.set(key, c);
  }
  return c;
}

export default function verify(task: VerifyTask): VerifyResult {
  const c = checkerFor(task);
  const r = c.reader.getGrainSync(task.index);
  if (r.status === 'TOO_LATE') return 'late';
  if (r.status !== 'OK' || !r.payload) return 'missing';
  const same = c.pattern.matches(r.payload, task.index, c.scratch);
  // The ring may have lapped us while comparing: then the bytes are not this grain's.
  if (c.reader.getGrainSync(task.index).status !== 'OK') return 'late';
  return same ? 'ok' : 'corrupt';
}
