/**
 * Receives for FI_RX_CQ_DATA providers (verbs, docs/protocol.md §4.8): a write with immediate data
 * consumes a posted receive, so each endpoint keeps a pool of 16 posted (upstream: one)
 * and every consumed one is posted again.
 */
import { addon } from '../../native/index.js';
import type { NativeDomain, NativeEndpoint, NativeMemoryRegion } from '../../native/fabric.js';
import { randomKey } from '../fabric-setup.js';
import { FI } from '../provider-config.js';

const RECV_POOL = 16;
/** Receive contexts: RECV_CTX_BASE | connection << 16 | pool index (connection 0 = RDM endpoint). */
export const RECV_CTX_BASE = 1n << 62n;

export class RecvPool {
  private mr?: NativeMemoryRegion;

  constructor(private readonly domain: NativeDomain) {}

  /** Whether a completion context is one of our receives. */
  static owns(context: bigint): boolean { return context >= RECV_CTX_BASE; }

  post(ep: NativeEndpoint, conn = 0n): void {
    this.mr ??= new (addon().MemoryRegion)(this.domain, new ArrayBuffer(8 * RECV_POOL), 0, 8 * RECV_POOL, FI.RECV, randomKey());
    for (let i = 0; i < RECV_POOL; i++) ep.recv(this.mr, i * 8, 8, RECV_CTX_BASE | (conn << 16n) | BigInt(i));
  }

  /** Posts the receive of `context` again on its endpoint. */
  repost(context: bigint, endpointOf: (conn: bigint) => NativeEndpoint | undefined): void {
    const i = Number(context & 0xffffn);
    const conn = (context & ~RECV_CTX_BASE) >> 16n;
    if (!this.mr || i >= RECV_POOL) return;
    endpointOf(conn)?.recv(this.mr, i * 8, 8, context);
  }

  close(): void { this.mr?.close(); }
}
