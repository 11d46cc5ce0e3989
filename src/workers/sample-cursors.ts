/**
 * Audio follow mode with a cursor per target (docs/protocol.md §4.7, follow mode): every
 * target gets every sample committed since the last window it was sent, on its own. A
 * target at its in-flight bound holds back only its own windows; the others stay on time.
 * The addon's follow loop (native/src/follow_loop.cc, ForwardSamples) does the same steps.
 */

/** The connected targets of one pass. */
export interface CursorTargets {
  /** Ids of the connected targets, in the order windows go out. */
  readonly ids: readonly bigint[];
  /** Whether target `id` takes a window now (below its in-flight bound). */
  accepts(id: bigint): boolean;
}

export interface ForwardResult {
  /** Windows sent (each to one or more targets). */
  windows: number;
  /** Some target still has committed samples it could not take yet. */
  backlog: boolean;
}

export class SampleCursors {
  /** Per target: one past the newest sample sent to it. */
  private readonly sent = new Map<bigint, bigint>();

  /**
   * `half`: half the local ring (older samples may be overwritten); `syncBatch`: the
   * writer's usual commit, what an attach re-sends.
   */
  constructor(private readonly half: bigint, private readonly syncBatch: bigint) {}

  /**
   * Sends what each target has not had up to `head`, in windows of at most `max` samples.
   * Targets whose cursors are equal share a window (`send(end, count, to)` is called once for
   * them). A target seen for the first time, or after the head moved back (a writer
   * restart), attaches: the last min(syncBatch, max, head) samples count as not sent. One
   * more than half a ring behind skips to half a ring behind (`fellBehind`, once per target).
   */
  forward(head: bigint, max: bigint, targets: CursorTargets, send: (end: bigint, count: bigint, to: bigint[]) => void, fellBehind: () => void): ForwardResult {
    const { ids } = targets;
    for (const id of this.sent.keys()) if (!ids.includes(id)) this.sent.delete(id); // gone: attaches again
    if (head === 0n || ids.length === 0) {
      this.sent.clear();
      return { windows: 0, backlog: false };
    }
    if (max <= 0n) return { windows: 0, backlog: false };
    for (const id of ids) {
      let c = this.sent.get(id);
      if (c === undefined || head < c) {
        let back = this.syncBatch < max ? this.syncBatch : max;
        if (back > head) back = head;
        c = head - back;
      }
      if (head - c > this.half) {
        fellBehind();
        c = head - this.half;
      }
      this.sent.set(id, c);
    }
    let windows = 0;
    for (;;) {
      // The lowest cursor of the targets that take a window now goes first.
      let low = -1n;
      let behind = false;
      for (const id of ids) {
        const c = this.sent.get(id)!;
        if (c >= head) continue;
        behind = true;
        if ((low < 0n || c < low) && targets.accepts(id)) low = c;
      }
      if (low < 0n) return { windows, backlog: behind };
      const left = head - low;
      const count = left < max ? left : max;
      const to = ids.filter((id) => this.sent.get(id) === low && targets.accepts(id));
      for (const id of to) this.sent.set(id, low + count);
      send(low + count, count, to);
      windows++;
    }
  }

  /** One past the newest sample sent to `id`, or undefined before it attached. */
  cursor(id: bigint): bigint | undefined {
    return this.sent.get(id);
  }
}
