/** RDM targets (shm, efa): one enabled endpoint with an address vector; no connections. */
import { addon } from '../../native/index.js';
import type { NativeAddressVector, NativeCompletionQueue, NativeEndpoint } from '../../native/fabric.js';
import type { OpenedFabric } from '../fabric-setup.js';
import { cqBindFlags } from '../provider-config.js';
import { CompletionReader, type Rhythm } from '../engine/completion-reader.js';
import type { CompletionSource, Listener } from './listener.js';
import type { RecvPool } from './recv-pool.js';

export class RdmEndpoint implements Listener {
  readonly address: Buffer;
  readonly connections = 0;
  readonly sources: readonly CompletionSource[];
  private readonly ep: NativeEndpoint;
  private readonly av: NativeAddressVector;

  constructor(fabric: OpenedFabric, cq: NativeCompletionQueue, id: bigint, recvs?: RecvPool, rhythm?: Rhythm) {
    const a = addon();
    this.sources = [{ conn: 0n, reader: new CompletionReader(cq, fabric.cqWaitable, rhythm) }];
    this.ep = new a.Endpoint(fabric.domain, fabric.info, id);
    this.av = new a.AddressVector(fabric.domain, 16);
    try {
      this.ep.bind(this.av);
      this.ep.bind(cq, cqBindFlags());
      this.ep.enable();
      recvs?.post(this.ep);
      this.address = this.ep.getName();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  poll(): void {}

  endpoint(conn: bigint): NativeEndpoint | undefined { return conn === 0n ? this.ep : undefined; }

  close(): void {
    this.ep.close();
    this.av.close();
  }
}
