/**
 * The reader wait loop (docs/domain-format.md §3.4): sample syncCounter, evaluate, and sleep in a shared
 * FUTEX_WAIT on the sampled value only while the answer is TOO_EARLY. Sampling first closes
 * the lost-wakeup window. The async form waits on the libuv threadpool; the sync form
 * blocks the calling thread (meant for worker threads).
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { addon } from '../native/index.js';
import type { FlowFiles } from './flow-files.js';
import { SYNC_COUNTER_U32 } from './layout.js';

export type ReadStatus = 'OK' | 'TOO_EARLY' | 'TOO_LATE' | 'FLOW_INVALID';

/** Upstream status name for a read status. */
export const readStatusCode = {
  OK: 'MXL_STATUS_OK',
  TOO_EARLY: 'MXL_ERR_OUT_OF_RANGE_TOO_EARLY',
  TOO_LATE: 'MXL_ERR_OUT_OF_RANGE_TOO_LATE',
  FLOW_INVALID: 'MXL_ERR_FLOW_INVALID',
} as const;

function checkTimeout(timeoutMs: number): number {
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) return 0;
  return timeoutMs;
}

/** `alive` turns false when the reader is closed during a wait; the last result is returned then. */
export async function waitForStatus<T extends { status: ReadStatus }>(files: FlowFiles, evaluate: () => T, timeoutMs: number, alive: () => boolean): Promise<T> {
  const deadline = performance.now() + checkTimeout(timeoutMs);
  const u32 = files.header.u32;
  for (;;) {
    const seen = Atomics.load(u32, SYNC_COUNTER_U32);
    const r = evaluate();
    if (r.status !== 'TOO_EARLY') return r;
    const left = deadline - performance.now();
    if (left <= 0) return staleCheck(files, r);
    await addon().futexWaitAsync(u32, SYNC_COUNTER_U32, seen, left);
    if (!alive()) return r;
  }
}

export function waitForStatusSync<T extends { status: ReadStatus }>(files: FlowFiles, evaluate: () => T, timeoutMs: number): T {
  const deadline = performance.now() + checkTimeout(timeoutMs);
  const u32 = files.header.u32;
  for (;;) {
    const seen = Atomics.load(u32, SYNC_COUNTER_U32);
    const r = evaluate();
    if (r.status !== 'TOO_EARLY') return r;
    const left = deadline - performance.now();
    if (left <= 0) return staleCheck(files, r);
    addon().futexWait(u32, SYNC_COUNTER_U32, seen, left);
  }
}

/** docs/domain-format.md §1.5: a TOO_EARLY on a deleted or re-created flow becomes FLOW_INVALID. */
function staleCheck<T extends { status: ReadStatus }>(files: FlowFiles, r: T): T {
  return isFlowReplaced(files) ? { ...r, status: 'FLOW_INVALID' } : r;
}

export function isFlowReplaced(files: FlowFiles): boolean {
  try {
    return fs.statSync(path.join(files.dir, 'data'), { bigint: true }).ino !== files.header.inode;
  } catch {
    return true;
  }
}
