/**
 * The process behind an shm target, so that an initiator never writes into the region of a
 * target that is gone (docs/sessions.md, "shm: a killed target's region lock").
 *
 * libfabric 1.17's shm write takes a spinlock that lives in the target's shared region
 * (/dev/shm/<name>), and the target takes the same lock in every progress call. A target
 * killed (SIGKILL) while it held it leaves it held for good, and the next write to it spins
 * in pthread_spin_lock forever. Knowing whether the target's process still runs, checked
 * before each write, keeps the initiator out of that lock; a write already waiting on it
 * when the target dies is let go by the watch, which frees a lock the dead owner left held
 * (native/src/process_watch.cc).
 */
import fs from 'node:fs';
import { FabricsError } from '../../errors.js';
import { addon } from '../../native/index.js';
import type { NativeProcessWatch } from '../../native/fabric.js';

const SHM_DIR = '/dev/shm';
/** smr_region's first bytes in libfabric 1.17 (SMR_VERSION 4): u8 version, u8, u16 flags, i32 pid, ... */
const HEADER_BYTES = 28;
const SMR_VERSION_117 = 4;
/** The region's pthread spinlock (glibc x86-64: 1 free, <= 0 held), in the 1.17 layout. */
const LOCK_OFFSET = 24;
/** Whether a dead owner left the lock held; only read where the lock's values are known. */
const lockHeld = (h: Buffer): boolean => process.arch === 'x64' && h[0] === SMR_VERSION_117 && h.readInt32LE(LOCK_OFFSET) <= 0;

export type ShmTargetProcess =
  /** The process that owns the region, identified for sure: ask `watch.exited()` before each write. */
  | { kind: 'watched'; pid: number; watch: NativeProcessWatch }
  /** Its process is gone and its region's lock is held: any write would spin forever. */
  | { kind: 'gone'; reason: string }
  /** Not identifiable (another pid namespace, another region layout, no region yet): no check. */
  | { kind: 'unknown'; reason: string };

/** The /dev/shm file of an shm address (`fi_shm://NAME` or `NAME`), or undefined when it names none. */
export function shmRegionName(address: string): string | undefined {
  const name = address.startsWith('fi_shm://') ? address.slice('fi_shm://'.length) : address;
  if (name === '' || name.includes('://') || name.includes('/') || name === '.' || name === '..') return undefined;
  return name;
}

function readHeader(name: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(`${SHM_DIR}/${name}`, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const b = Buffer.alloc(HEADER_BYTES);
    return fs.readSync(fd, b, 0, HEADER_BYTES, 0) === HEADER_BYTES ? b : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Whether process `pid` (as this process sees it) has /dev/shm/<name> mapped: it owns that region. */
function mapsRegion(pid: number, name: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/maps`, 'latin1').includes(` ${SHM_DIR}/${name}\n`);
  } catch {
    return false;
  }
}

/**
 * Finds the process that owns the shm region of `address`: the pid in the region's header,
 * accepted only when that process has the region mapped (a pid of another pid namespace,
 * or a reused one, is not taken for the target).
 */
export function watchShmTarget(address: string): ShmTargetProcess {
  const name = shmRegionName(address);
  if (!name) return { kind: 'unknown', reason: `${address} names no /dev/shm region` };
  const h = readHeader(name);
  if (!h) return { kind: 'unknown', reason: `no readable region ${SHM_DIR}/${name}` };
  const pid = h.readInt32LE(4);
  if (pid <= 0) return { kind: 'unknown', reason: `region ${name} is not initialised` };
  let probe: NativeProcessWatch;
  try {
    probe = new (addon().ProcessWatch)(pid);
  } catch (e) {
    if (!(e instanceof FabricsError) || e.errno !== 3) throw e;
    // No such process here. A dead owner whose lock is still held would wedge the first
    // write; a free lock cannot be taken by a dead process any more.
    if (lockHeld(h)) {
      return { kind: 'gone', reason: `its process ${pid} has exited and left its region ${name} locked` };
    }
    return { kind: 'unknown', reason: `process ${pid} of region ${name} is not visible here` };
  }
  try {
    // The pidfd is taken first, so the process checked here is the one watched.
    if (!mapsRegion(pid, name)) {
      if (probe.exited() && lockHeld(h)) {
        return { kind: 'gone', reason: `its process ${pid} has exited and left its region ${name} locked` };
      }
      return { kind: 'unknown', reason: `process ${pid} does not have region ${name} mapped` };
    }
    // The watch that also frees a lock the process dies holding (it maps the region, so it
    // comes after the maps check). Still the same process while the probe says it runs.
    const watch = new (addon().ProcessWatch)(pid, `${SHM_DIR}/${name}`);
    if (probe.exited()) {
      watch.close();
      return lockHeld(h) ? { kind: 'gone', reason: `its process ${pid} has exited and left its region ${name} locked` } : { kind: 'unknown', reason: `process ${pid} exited while it was being identified` };
    }
    return { kind: 'watched', pid, watch };
  } catch (e) {
    if (e instanceof FabricsError && e.errno === 3) return { kind: 'unknown', reason: `process ${pid} exited while it was being identified` };
    throw e;
  } finally {
    probe.close();
  }
}
