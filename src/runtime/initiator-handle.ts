/** Main-thread handle of an initiator running in its own worker. */
import { FabricsError } from '../errors.js';
import type { InitiatorWorkerConfig, WorkerMessage } from '../ipc/worker-messages.js';
import { EndpointHandle, type RecordOptions } from './endpoint-handle.js';
import { EventKind, EventRecord, RequestOp, RequestRecord } from '../ipc/event-records.js';

/** A grain whose last write completed (delivery complete) at one target. */
export interface CompletedGrain {
  /** Grain index, or for audio the window's head index. */
  index: bigint;
  /** Audio: samples in the window (0 for grains). */
  count: number;
  /**
   * Grains: the slice this transfer ended at, i.e. the grain's valid slices at the target
   * after it (totalSlices once the grain is whole; a grain sent as slice ranges completes
   * once per range). 0 for audio.
   */
  endSlice: number;
  /** Small peer number, as returned by addTarget. */
  peer: number;
  /** From posting the write to its completion, ns. */
  latencyNs: number;
  timeNs: bigint;
}

export interface PeerEvent {
  peer: number;
  targetId?: string;
  reason?: string;
  error?: FabricsError;
}

export class InitiatorHandle extends EndpointHandle {
  declare readonly config: InitiatorWorkerConfig;
  private readonly req = new Float64Array(RequestRecord.LENGTH);
  /** Transfer requests refused because the request ring was full. */
  rejected = 0;

  get flowId(): string { return this.ready!.flowId; }

  /** Adds a target by its TargetInfo (JSON or base64); resolves with its peer number. */
  async addTarget(info: string): Promise<{ peer: number; targetId: string }> {
    return this.request({ type: 'addTarget', info });
  }

  /** Removes a target by its TargetInfo string or its id. */
  async removeTarget(infoOrId: string | bigint): Promise<void> {
    let targetId: string;
    if (typeof infoOrId === 'bigint') targetId = infoOrId.toString();
    else {
      const { TargetInfo } = await import('../fabrics/target-info.js');
      targetId = TargetInfo.parse(infoOrId).id.toString();
    }
    await this.request({ type: 'removeTarget', targetId });
  }

  /**
   * Enqueues a transfer of slices [startSlice, endSlice) of grain `index` to every
   * connected target and returns at once. False when the request ring is full.
   */
  transferGrain(index: bigint, startSlice = 0, endSlice = 0xffff): boolean {
    if (this.state !== 'ready') throw new FabricsError('MXL_ERR_INVALID_STATE', `${this.name} is ${this.state}`);
    const r = this.req;
    r[RequestRecord.OP] = RequestOp.TRANSFER;
    r[RequestRecord.INDEX] = Number(index);
    r[RequestRecord.START] = startSlice;
    r[RequestRecord.END] = endSlice === 0xffff ? -1 : endSlice;
    const ok = this.requests!.tryPushFrom(r);
    if (!ok) this.rejected++;
    else this.control.ring();
    return ok;
  }

  /**
   * Audio: enqueues the window of `count` samples per channel ending (exclusive) at
   * `headIndex` for every connected target. False when the request ring is full.
   */
  transferSamples(headIndex: bigint, count: number): boolean {
    if (this.state !== 'ready') throw new FabricsError('MXL_ERR_INVALID_STATE', `${this.name} is ${this.state}`);
    const r = this.req;
    r[RequestRecord.OP] = RequestOp.TRANSFER_SAMPLES;
    r[RequestRecord.INDEX] = Number(headIndex);
    r[RequestRecord.START] = count;
    r[RequestRecord.END] = 0;
    const ok = this.requests!.tryPushFrom(r);
    if (!ok) this.rejected++;
    else this.control.ring();
    return ok;
  }

  get kind(): 'grains' | 'samples' { return this.ready!.kind; }

  /** Resolves when every request enqueued so far has completed at every target. */
  flush(timeoutMs = 30_000): Promise<void> {
    return this.request({ type: 'flush' }, timeoutMs);
  }

  status(): Promise<unknown> {
    return this.request({ type: 'status' });
  }

  /** Grains as their writes complete at each target; `batchMs` (RecordOptions) reads them in batches. */
  completions(opts: RecordOptions = {}): AsyncGenerator<CompletedGrain> {
    return this.records((d, o) => {
      if (d[o + EventRecord.KIND] !== EventKind.COMPLETED) return undefined;
      const v = d[o + EventRecord.VALID_SLICES];
      const audio = this.kind === 'samples';
      return { index: BigInt(d[o + EventRecord.INDEX]), count: audio ? v : 0, endSlice: audio ? 0 : v, peer: d[o + EventRecord.PEER], latencyNs: d[o + EventRecord.EXTRA], timeNs: BigInt(d[o + EventRecord.TIME_NS]) };
    }, opts);
  }

  protected onWorkerEvent(m: WorkerMessage): void {
    if (m.type !== 'peer') return;
    const e: PeerEvent = { peer: m.peer, targetId: m.targetId, reason: m.reason, error: m.error ? FabricsError.fromRecord(m.error) : undefined };
    this.emit(m.event === 'error' ? 'peerError' : m.event, e);
  }
}
