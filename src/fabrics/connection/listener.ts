/**
 * The target's connection layer, one per connection model: MSG listens on a passive
 * endpoint and accepts one endpoint per initiator; RDM has one enabled endpoint that every
 * initiator writes to. Both bind to the target's one completion queue.
 */
import type { FabricsError } from '../../errors.js';
import type { NativeEndpoint } from '../../native/fabric.js';

export interface ListenerEvents {
  connected(conn: bigint): void;
  disconnected(conn: bigint): void;
  error(e: FabricsError): void;
}

export interface Listener {
  /** The address initiators write to (fi_getname). */
  readonly address: Buffer;
  /** Connections currently up. */
  readonly connections: number;
  /** Handles connection events since the last call (MSG only). */
  poll(on: ListenerEvents): void;
  /** The endpoint of connection `conn` (0 = the RDM endpoint), for reposting receives. */
  endpoint(conn: bigint): NativeEndpoint | undefined;
  close(): void;
}
