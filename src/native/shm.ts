/** Declared surface of native/src/shm.cc (mmap, flock, futex, CLOCK_TAI). Linux only. */

/** Outcome of a futex wait: woken, timed out, value already differed, signal, or -errno. */
export type FutexWaitResult = 'ok' | 'timeout' | 'again' | 'interrupted' | number;

export interface NativeShm {
  /**
   * Maps `length` bytes of `fd` from offset 0 with MAP_SHARED, read-only or read-write, as an
   * external ArrayBuffer (no copy). The pages are unmapped when the buffer is collected or
   * by {@link NativeShm.munmap}. The fd may be closed once mapped. `populate`: MAP_POPULATE
   * (fill the page tables now).
   */
  mmap(fd: number, length: number, writable: boolean, populate?: boolean): ArrayBuffer;
  /**
   * Detaches a buffer returned by mmap (its byteLength becomes 0) and unmaps it now, or when
   * the last pending futexWaitAsync on it returns. Returns false if already detached.
   */
  munmap(buffer: ArrayBuffer): boolean;
  /** flock(2). `op` is built from {@link NativeShm.LOCK}. Returns 0 or -errno (e.g. -11 EWOULDBLOCK). */
  flock(fd: number, op: number): number;
  /** posix_fallocate(fd, offset, length); throws a FabricsError (op `posix_fallocate`) on failure. */
  fallocate(fd: number, offset: number, length: number): void;
  /** Shared FUTEX_WAIT on `view[index]` on the calling thread. timeoutMs < 0 or Infinity waits forever. */
  futexWait(view: Uint32Array, index: number, expected: number, timeoutMs: number): FutexWaitResult;
  /** Same wait on the libuv threadpool; never blocks the calling thread. */
  futexWaitAsync(view: Uint32Array, index: number, expected: number, timeoutMs: number): Promise<FutexWaitResult>;
  /** Shared FUTEX_WAKE on `view[index]`; count defaults to INT_MAX. Returns the number woken or -errno. */
  futexWake(view: Uint32Array, index: number, count?: number): number;
  /** clock_gettime(CLOCK_TAI) in nanoseconds. */
  clockTai(): bigint;
  /** renameat2(RENAME_NOREPLACE): 0, or -EEXIST (-17) / -ENOTEMPTY (-39) when `to` exists; throws otherwise. */
  renameNoReplace(from: string, to: string): number;
  /** futimens(fd, {atime: now, mtime: omit}); returns 0 or -errno. */
  touchAtime(fd: number): number;
  /** True when `path` is on tmpfs or ramfs. */
  isTmpfs(path: string): boolean;
  /**
   * prctl(PR_SET_TIMERSLACK) for the calling thread (and threads it starts later): how late
   * the kernel may end its sleeps. Returns the previous slack in ns, or -errno.
   */
  setTimerSlack(ns: number): number;
  /** sched_yield(): lets other runnable threads of this core run first (busy polling). */
  yieldCpu(): void;
  /** Live mappings in this process (for leak checks). */
  mappingCount(): number;
  readonly LOCK: { readonly SH: number; readonly EX: number; readonly NB: number; readonly UN: number };
}
