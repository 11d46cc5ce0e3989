/**
 * The initiator's connection layer, one per connection model: MSG connects one endpoint
 * per target through an event queue; RDM opens one endpoint and address vector per target
 * and is ready at once. Both bind every endpoint to the initiator's one completion queue.
 */
import type { Peer } from '../engine/peer.js';

/** The result of opening a peer's endpoint. */
export type OpenResult = 'ready' | 'connecting' | { failed: string };

export interface ConnectionEvents {
  connected(peer: Peer): void;
  failed(peer: Peer, reason: string): void;
}

export interface Connector {
  /**
   * Opens a fresh endpoint for `peer` (stored on it). Throws when a local resource cannot
   * be made (the caller decides whether that fails addTarget or backs the peer off).
   */
  open(peer: Peer): OpenResult;
  /** Delivers the connection events that arrived since the last call. */
  poll(peerOf: (ctx: bigint) => Peer | undefined, on: ConnectionEvents): void;
  /** The destination address for writes to `peer`. */
  dest(peer: Peer): bigint;
  close(): void;
}
