/**
 * Why a target dropped what a peer wrote. A small fixed set, so counters and dashboards can
 * key on it; the event carries the detail.
 */
export const DROP_REASONS = [
  /** The immediate names a slot past the ring. */
  'slot-range',
  /** The immediate's slice end is past the grain's slices. */
  'slice-range',
  /** The landed header has another grain size, slice count or version (restored). */
  'geometry',
  /** The landed header's grain index does not belong in the slot it landed in. */
  'index-slot',
  /** Audio: the immediate names a bounce entry past the buffer. */
  'entry-range',
  /** Audio: the entry's sample count or head index is impossible. */
  'sample-count',
  /** A write from a second source while another one owns the target. */
  'second-source',
  /**
   * A completion for a grain and slice range its slot already landed: a re-send, or a
   * completion read after the sender had rewritten the slot (the target fell a ring behind
   * and the grain it was for is lost).
   */
  'repeat',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

export const emptyDrops = (): Record<DropReason, number> =>
  Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;

/** How receivers report a drop; returns false so `return sink.drop(...)` reads as "not landed". */
export type DropSink = (reason: DropReason, message: string, immediate: number) => false;
