/** A file descriptor, its optional flock, and its whole-file MAP_SHARED mapping. */
import fs from 'node:fs';
import { addon } from '../native/index.js';
import { FabricsError } from '../errors.js';
import { sysFail } from './fail.js';

export interface MapOptions {
  writable: boolean;
  /** Take flock(LOCK_SH|LOCK_NB) and hold it until close (writers, docs/domain-format.md §1.4). */
  lockShared?: boolean;
  /** Expected minimum size; smaller files are FLOW_INVALID. */
  minSize?: number;
  /**
   * Fill the page tables now (MAP_POPULATE): payloads that are written or landed into at
   * the flow's rate, so the first pass over the ring takes no page faults.
   */
  prefault?: boolean;
}

export class MappedFile {
  private closed = false;

  private constructor(public path: string, readonly fd: number, readonly buffer: ArrayBuffer, readonly size: number) {}

  /** Opens an existing file and maps all of it. */
  static open(path: string, opts: MapOptions): MappedFile {
    let fd: number;
    try {
      fd = fs.openSync(path, opts.writable ? fs.constants.O_RDWR : fs.constants.O_RDONLY);
    } catch (e) {
      throw sysFail(e, 'open', path);
    }
    try {
      return MappedFile.adopt(path, fd, opts);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Maps an already open fd (the new MappedFile owns it). */
  static adopt(path: string, fd: number, opts: MapOptions): MappedFile {
    const n = addon();
    if (opts.lockShared) {
      const r = n.flock(fd, n.LOCK.SH | n.LOCK.NB);
      // A shared lock only fails while someone holds LOCK_EX: a gc or a writer deleting the flow.
      if (r !== 0) throw new FabricsError('MXL_ERR_CONFLICT', `cannot lock ${path} shared (errno ${-r}): the flow is being deleted`, { op: 'flock', errno: -r });
    }
    const size = fs.fstatSync(fd).size;
    if (opts.minSize !== undefined && size < opts.minSize) {
      throw new FabricsError('MXL_ERR_FLOW_INVALID', `${path} is ${size} bytes, expected at least ${opts.minSize}`, { field: path.split('/').pop() });
    }
    if (size === 0) throw new FabricsError('MXL_ERR_FLOW_INVALID', `${path} is empty`, { field: path.split('/').pop() });
    const buffer = n.mmap(fd, size, opts.writable, opts.prefault === true);
    return new MappedFile(path, fd, buffer, size);
  }

  /** Tries to turn our lock into LOCK_EX|LOCK_NB; true when no one else holds the file. */
  tryLockExclusive(): boolean {
    const n = addon();
    return n.flock(this.fd, n.LOCK.EX | n.LOCK.NB) === 0;
  }

  /** Unmaps (detaching the ArrayBuffer) and closes the fd, which drops any flock. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    addon().munmap(this.buffer);
    try {
      fs.closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
