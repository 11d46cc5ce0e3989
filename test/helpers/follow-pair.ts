// A source flow, a target and a follow-mode initiator connected over a real provider on this
// host: the set-up the follow-mode tests share.
import { Fabrics, type InitiatorOptions } from '../../src/runtime/coordinator.js';
import type { InitiatorHandle } from '../../src/runtime/initiator-handle.js';
import type { TargetHandle } from '../../src/runtime/target-handle.js';
import { MxlInstance, type DiscreteFlowWriter } from '../../src/domain/index.js';
import { longHistoryDomain } from './domains.js';

export interface FollowPair {
  src: MxlInstance;
  writer: DiscreteFlowWriter;
  /** The target's domain, for a destination reader. */
  dstDir: string;
  target: TargetHandle;
  initiator: InitiatorHandle;
  /** Closes the endpoints, then the writer and the source instance. */
  close(): Promise<void>;
}

/**
 * Creates the flow `flowDef` (id `flowId`) in a fresh long-history domain, a target for it in
 * another, and a follow-mode initiator on the flow (`initiator` adds options), and resolves
 * once the initiator reports the target connected. On failure everything opened is closed.
 */
export async function openFollowPair(provider: 'tcp' | 'shm', flowDef: string, flowId: string, initiator: Partial<InitiatorOptions> = {}): Promise<FollowPair> {
  const src = new MxlInstance(longHistoryDomain());
  const dstDir = longHistoryDomain();
  const writer = src.createFlowWriter(flowDef) as DiscreteFlowWriter;
  const fx = new Fabrics();
  const close = async (): Promise<void> => {
    await fx.close();
    writer.close();
    src.close();
  };
  try {
    const target = await fx.createTarget({ provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, domain: dstDir, flowDef });
    const ini = await fx.createInitiator({ provider, domain: src.domain, flowId, follow: true, ...initiator });
    const connected = new Promise((r) => ini.once('connected', r));
    await ini.addTarget(target.info);
    await connected;
    return { src, writer, dstDir, target, initiator: ini, close };
  } catch (e) {
    await close();
    throw e;
  }
}
