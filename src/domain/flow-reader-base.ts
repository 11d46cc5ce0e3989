/** What discrete and continuous readers share. Readers take no locks (docs/domain-format.md §1.4). */
import { FabricsError } from '../errors.js';
import type { FlowHeader } from './flow-header.js';
import type { FlowGeometry } from './geometry.js';
import { closeFlowFiles, type FlowFiles } from './flow-files.js';

export interface FlowReaderOptions {
  /**
   * Map the grain files (or channels) read-write. Needed to register them with providers
   * that cannot register read-only memory (EFA). The reader itself never writes them.
   */
  writableMapping?: boolean;
  /**
   * Fill the page tables of the grain files (or channels) when the flow is opened, so the
   * first pass over the ring takes no page faults: about 1 ms per 5.5 MB grain otherwise,
   * paid by the first `grainCount` grains (docs/domain.md, "Prefaulted payloads"). Costs
   * that time once, at open. Initiators always prefault what they register.
   */
  prefault?: boolean;
}

export abstract class FlowReaderBase {
  protected closed = false;
  onClose?: () => void;

  constructor(protected readonly files: FlowFiles) {}

  get id(): string { return this.files.id; }
  get geometry(): FlowGeometry { return this.files.geometry; }
  get flowHeader(): FlowHeader { return this.files.header; }
  get flowDir(): string { return this.files.dir; }
  get isClosed(): boolean { return this.closed; }

  protected ensureOpen(): void {
    if (this.closed) throw new FabricsError('MXL_ERR_INVALID_FLOW_READER', `reader for flow ${this.id} is closed`);
  }

  /**
   * Unmaps everything. Views handed out earlier become detached (length 0). A pending async
   * wait keeps its page mapped until it returns, then resolves normally.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeFlowFiles(this.files);
    this.onClose?.();
  }
}
