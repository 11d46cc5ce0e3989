/** What discrete and continuous writers share: the open files, signalling and release (docs/domain-format.md §1.4). */
import fs from 'node:fs';
import { addon } from '../native/index.js';
import { FabricsError } from '../errors.js';
import type { FlowHeader } from './flow-header.js';
import type { FlowGeometry } from './geometry.js';
import { closeFlowFiles, type FlowFiles } from './flow-files.js';
import { INT_MAX, SYNC_COUNTER_U32 } from './layout.js';

export abstract class FlowWriterBase {
  protected closed = false;
  /** Called once on close (the instance forgets the writer). */
  onClose?: () => void;

  constructor(protected readonly files: FlowFiles, readonly created: boolean) {}

  get id(): string { return this.files.id; }
  get geometry(): FlowGeometry { return this.files.geometry; }
  /** The flow header (`data`), fields read with Atomics. */
  get flowHeader(): FlowHeader { return this.files.header; }
  get flowDir(): string { return this.files.dir; }
  get isClosed(): boolean { return this.closed; }

  protected ensureOpen(): void {
    if (this.closed) throw new FabricsError('MXL_ERR_INVALID_FLOW_WRITER', `writer for flow ${this.id} is closed`);
  }

  /** syncCounter += 1 (atomic, unlike upstream docs/domain-format.md §8.8), then FUTEX_WAKE(INT_MAX). */
  protected signal(): void {
    const u32 = this.files.header.u32;
    Atomics.add(u32, SYNC_COUNTER_U32, 1);
    addon().futexWake(u32, SYNC_COUNTER_U32, INT_MAX);
  }

  /**
   * Releases the writer. Like upstream, if LOCK_EX|LOCK_NB on `data` succeeds no other
   * writer holds the flow, so the flow directory is deleted; otherwise it stays for them.
   * Returns true when the flow was deleted.
   */
  close(): boolean {
    if (this.closed) return false;
    this.closed = true;
    let deleted = false;
    try {
      if (this.files.data.tryLockExclusive()) {
        fs.rmSync(this.files.dir, { recursive: true, force: true });
        deleted = true;
      }
    } finally {
      closeFlowFiles(this.files);
      this.onClose?.();
    }
    return deleted;
  }
}
