/** MSG initiators (tcp, verbs): one connected endpoint per target, events through one EQ. */
import { addon } from '../../native/index.js';
import type { NativeCompletionQueue, NativeEventQueue } from '../../native/fabric.js';
import type { Peer } from '../engine/peer.js';
import type { OpenedFabric } from '../fabric-setup.js';
import { cqBindFlags } from '../provider-config.js';
import type { ConnectionEvents, Connector, OpenResult } from './connector.js';

export class MsgConnector implements Connector {
  private readonly eq: NativeEventQueue;

  constructor(private readonly fabric: OpenedFabric, private readonly cq: NativeCompletionQueue) {
    this.eq = new (addon().EventQueue)(fabric.fabric, 64);
  }

  open(peer: Peer): OpenResult {
    peer.ep?.close();
    peer.ep = undefined;
    const ep = new (addon().Endpoint)(this.fabric.domain, this.fabric.info, peer.ctx);
    peer.ep = ep;
    ep.bind(this.eq);
    ep.bind(this.cq, cqBindFlags());
    peer.state = 'connecting';
    const rc = ep.connect(peer.info.fabricAddress);
    return rc === 0 ? 'connecting' : { failed: `fi_connect failed (${rc})` };
  }

  poll(peerOf: (ctx: bigint) => Peer | undefined, on: ConnectionEvents): void {
    for (let ev = this.eq.read(); ev; ev = this.eq.read()) {
      if (ev.event === 'interrupted' || ev.event === 'connreq') continue;
      const peer = 'fidContext' in ev ? peerOf(ev.fidContext) : undefined;
      if (!peer) continue;
      if (ev.event === 'connected') on.connected(peer);
      else if (ev.event === 'shutdown') on.failed(peer, 'the target closed the connection');
      else if (ev.event === 'error') on.failed(peer, refusal(ev.err) ?? `connection error: ${ev.text}`);
    }
  }

  dest(): bigint { return addon().constants.FI_ADDR_UNSPEC; }

  close(): void { this.eq.close(); }
}

const ECONNREFUSED = 111;

/** What a refused connection means here: no listener at that address, or a target that has its initiator. */
function refusal(err: number): string | undefined {
  if (Math.abs(err) !== ECONNREFUSED) return undefined;
  return 'the target refused the connection: nothing listens at its address, or it already has its initiator (a target takes one at a time unless its maxInitiators allows more)';
}
