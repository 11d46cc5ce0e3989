/**
 * MSG targets (tcp, verbs): a passive endpoint that keeps listening (upstream stops after
 * the first initiator) and one accepted endpoint per initiator, up to `maxInitiators`
 * (default 1: one source per target). A connection request beyond that is rejected
 * (fi_reject) and reported; the initiator sees its connection refused. Each accepted
 * endpoint gets its own completion queue, so what lands is known per initiator.
 */
import { FabricsError } from '../../errors.js';
import { addon } from '../../native/index.js';
import type { NativeCompletionQueue, NativeEndpoint, NativeEventQueue, NativePassiveEndpoint } from '../../native/fabric.js';
import { type EndpointOptions, type OpenedFabric, bindError } from '../fabric-setup.js';
import { cqBindFlags } from '../provider-config.js';
import { CompletionReader, type Rhythm } from '../engine/completion-reader.js';
import type { RecvPool } from './recv-pool.js';
import type { CompletionSource, Listener, ListenerEvents } from './listener.js';

interface Connection { ep: NativeEndpoint; cq: NativeCompletionQueue; connected: boolean }

export class MsgListener implements Listener {
  readonly address: Buffer;
  private readonly eq: NativeEventQueue;
  private readonly pep: NativePassiveEndpoint;
  private readonly conns = new Map<bigint, Connection>();
  private nextConn = 1n;
  sources: CompletionSource[] = [];

  constructor(
    private readonly fabric: OpenedFabric,
    /** Depth of each connection's completion queue. */
    private readonly cqDepth: number,
    id: bigint,
    local: EndpointOptions,
    private readonly maxInitiators: number,
    private readonly recvs?: RecvPool,
    /** The target's expected arrival period, for each connection's pause ladder. */
    private readonly rhythm?: Rhythm,
  ) {
    const a = addon();
    this.eq = new a.EventQueue(fabric.fabric, 64);
    let pep: NativePassiveEndpoint | undefined;
    try {
      // tcp binds in fi_passive_ep, verbs in fi_listen: both failures say what to fix.
      pep = new a.PassiveEndpoint(fabric.fabric, fabric.info, id);
      pep.bind(this.eq);
      pep.listen();
    } catch (e) {
      pep?.close();
      this.eq.close();
      throw bindError(e, local);
    }
    this.pep = pep;
    this.address = pep.getName();
  }

  get connections(): number {
    let n = 0;
    for (const c of this.conns.values()) if (c.connected) n++;
    return n;
  }

  poll(on: ListenerEvents): void {
    const eq = this.eq;
    for (let ev = eq.read(); ev; ev = eq.read()) {
      switch (ev.event) {
        case 'connreq': {
          if (this.conns.size >= this.maxInitiators) {
            this.pep.reject(ev.info);
            on.error(new FabricsError('MXL_ERR_EXISTS',
              `refused a connection request: this target takes ${this.maxInitiators} initiator${this.maxInitiators === 1 ? '' : 's'} at a time (maxInitiators) and has ${this.conns.size}`, { op: 'fi_reject', field: 'maxInitiators' }));
            break;
          }
          const ctx = this.nextConn++;
          let ep: NativeEndpoint | undefined;
          let cq: NativeCompletionQueue | undefined;
          try {
            cq = new (addon().CompletionQueue)(this.fabric.domain, this.cqDepth, true);
            ep = new (addon().Endpoint)(this.fabric.domain, ev.info, ctx);
            ep.bind(eq);
            ep.bind(cq, cqBindFlags());
            // Upstream accepts with one byte of private data, value 0.
            const rc = ep.accept(Buffer.from([0]));
            if (rc !== 0) throw new FabricsError('MXL_ERR_UNKNOWN', `fi_accept failed (${rc})`, { op: 'fi_accept', fiErrno: -rc });
            this.conns.set(ctx, { ep, cq, connected: false });
            this.sources = [...this.sources, { conn: ctx, reader: new CompletionReader(cq, this.fabric.cqWaitable, this.rhythm) }];
          } catch (e) {
            ep?.close();
            cq?.close();
            this.pep.reject(ev.info);
            on.error(e as FabricsError);
          }
          break;
        }
        case 'connected': {
          const c = this.conns.get(ev.fidContext);
          if (c) {
            c.connected = true;
            this.recvs?.post(c.ep, ev.fidContext);
            on.connected(ev.fidContext);
          }
          break;
        }
        case 'shutdown':
        case 'error': {
          const c = this.conns.get(ev.fidContext);
          if (c) {
            this.conns.delete(ev.fidContext);
            const src = this.sources.find((x) => x.conn === ev.fidContext);
            this.sources = this.sources.filter((x) => x !== src);
            if (src) on.closing(src);
            c.ep.close();
            c.cq.close();
            if (c.connected) on.disconnected(ev.fidContext);
          }
          break;
        }
        default:
          break;
      }
    }
  }

  endpoint(conn: bigint): NativeEndpoint | undefined { return this.conns.get(conn)?.ep; }

  close(): void {
    for (const c of this.conns.values()) { c.ep.close(); c.cq.close(); }
    this.conns.clear();
    this.sources = [];
    this.pep.close();
    this.eq.close();
  }
}
