/**
 * RDM initiators (shm, efa): one endpoint and address vector per target, so a target that
 * stops answering cannot hold back the write completions of the others (libfabric 1.17's
 * shm completes an endpoint's writes in order). RDM has no connection events: a peer is
 * ready as soon as its address is inserted. shm: the target's process is watched, and a
 * target whose process exited is never written to (shm-peer.ts).
 */
import { FabricsError } from '../../errors.js';
import { addon } from '../../native/index.js';
import type { NativeCompletionQueue } from '../../native/fabric.js';
import type { Peer } from '../engine/peer.js';
import type { OpenedFabric } from '../fabric-setup.js';
import { Provider } from '../provider.js';
import { cqBindFlags } from '../provider-config.js';
import type { Connector, OpenResult } from './connector.js';
import { watchShmTarget } from './shm-peer.js';

export class RdmConnector implements Connector {
  constructor(private readonly fabric: OpenedFabric, private readonly cq: NativeCompletionQueue) {}

  open(peer: Peer): OpenResult {
    const address = peer.info.printableAddress;
    if (peer.exitedAddress === address) return { failed: `the target process at ${address} has exited; waiting for a new TargetInfo` };
    if (this.fabric.provider === Provider.Shm) {
      const proc = watchShmTarget(address);
      if (proc.kind === 'gone') {
        peer.exitedAddress = address;
        return { failed: `the target at ${address} is gone: ${proc.reason}` };
      }
      if (proc.kind === 'watched') peer.process = proc.watch;
    }
    const a = addon();
    const info = this.fabric.endpointInfo(`${peer.ctx}-${++peer.attempts}`);
    const ep = new a.Endpoint(this.fabric.domain, info, 0n);
    peer.ep = ep;
    const av = new a.AddressVector(this.fabric.domain, 4);
    peer.av = av;
    ep.bind(av);
    ep.bind(this.cq, cqBindFlags());
    ep.enable();
    try {
      peer.fiAddr = av.insert(peer.info.fabricAddress);
    } catch (e) {
      throw new FabricsError('MXL_ERR_INVALID_ARG', `the target address ${peer.info.printableAddress} was refused: ${(e as Error).message}`, { field: 'fabricAddress', cause: e });
    }
    return 'ready';
  }

  poll(): void {}

  dest(peer: Peer): bigint { return peer.fiAddr; }

  close(): void {}
}
