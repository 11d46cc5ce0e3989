/**
 * Fixed records exchanged through the SharedArrayBuffer rings between an endpoint worker
 * and the main thread. Float64 elements: grain indices (< 2^53 for any real clock) and
 * hrtime nanoseconds fit exactly.
 */

/** Worker -> main: what happened to grains. */
export const EventRecord = {
  LENGTH: 8,
  // word 0: kind
  KIND: 0,
  INDEX: 1,
  SLOT: 2,
  VALID_SLICES: 3,
  TOTAL_SLICES: 4,
  /** process.hrtime.bigint() in the worker when the completion was read. */
  TIME_NS: 5,
  /** Target: 1 if committed into the local flow. Initiator: post-to-completion latency, ns. */
  EXTRA: 6,
  /** Initiator: the target's small peer number (see the 'peer' messages). */
  PEER: 7,
} as const;

/** GRAIN: a grain landed (target). COMPLETED: a transfer completed at a target (initiator).
 * SAMPLES: a window of samples landed (target): INDEX = head index, VALID_SLICES = count, SLOT = bounce entry. */
export const EventKind = { GRAIN: 1, COMPLETED: 2, SAMPLES: 3 } as const;

/** Main -> initiator worker: transfer requests. */
export const RequestRecord = {
  LENGTH: 4,
  OP: 0,
  INDEX: 1,
  START: 2,
  END: 3,
} as const;

/** TRANSFER: [index, start, end]; TRANSFER_SAMPLES: [head index, count, -]. */
export const RequestOp = { TRANSFER: 1, TRANSFER_SAMPLES: 2 } as const;

/** Ring capacities (records). */
export const EVENT_RING_CAPACITY = 4096;
export const REQUEST_RING_CAPACITY = 1024;
