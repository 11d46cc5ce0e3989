/**
 * The target's connection layer, one per connection model: MSG listens on a passive
 * endpoint and accepts one endpoint per initiator, each with its own completion queue (a
 * remote write's completion carries no context, so its queue is what says which initiator
 * it came from: docs/sessions.md "Idle initiators"); RDM has one enabled endpoint that every
 * initiator writes to, with one completion queue.
 */
import type { FabricsError } from '../../errors.js';
import type { NativeEndpoint } from '../../native/fabric.js';
import type { CompletionReader } from '../engine/completion-reader.js';

/** A completion queue to read and the connection its completions belong to (0: RDM, no connection). */
export interface CompletionSource { readonly conn: bigint; readonly reader: CompletionReader }

export interface ListenerEvents {
  connected(conn: bigint): void;
  disconnected(conn: bigint): void;
  /** A connection's completion queue is about to close: read what it still holds. */
  closing(source: CompletionSource): void;
  error(e: FabricsError): void;
}

export interface Listener {
  /** The address initiators write to (fi_getname). */
  readonly address: Buffer;
  /** Connections currently up. */
  readonly connections: number;
  /** The completion queues to read, one per accepted connection (MSG) or the endpoint's (RDM). */
  readonly sources: readonly CompletionSource[];
  /** Handles connection events since the last call (MSG only). */
  poll(on: ListenerEvents): void;
  /** The endpoint of connection `conn` (0 = the RDM endpoint), for reposting receives. */
  endpoint(conn: bigint): NativeEndpoint | undefined;
  close(): void;
}
