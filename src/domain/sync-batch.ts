/**
 * Upstream's continuous-flow wake policy (docs/domain-format.md §3.3, TV7): signal readers about once per
 * `maxSyncBatchSizeHint` samples, early once the head passes S − C inside the current batch.
 */
export class SyncBatchTracker {
  private readonly s: bigint;
  private readonly threshold: bigint;
  /** Per-writer state; never in shared memory. */
  last = 0n;

  constructor(maxSyncBatchSizeHint: number, maxCommitBatchSizeHint: number) {
    const s = BigInt(Math.max(maxSyncBatchSizeHint, 1));
    const c = BigInt(Math.max(maxCommitBatchSizeHint, 1));
    this.s = s;
    this.threshold = s >= c ? s - c : 0n;
  }

  /** Whether a commit that moves the head to `head` must wake readers. */
  shouldSignal(head: bigint): boolean {
    const b = head / this.s;
    if (b < this.last) return false;
    if (b === this.last) {
      if (head % this.s > this.threshold) {
        this.last = b + 1n;
        return true;
      }
      return false;
    }
    this.last = b;
    return true;
  }
}
