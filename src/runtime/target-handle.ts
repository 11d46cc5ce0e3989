/** Main-thread handle of a target running in its own worker. */
import { indexToTimestamp } from '../domain/time.js';
import { FabricsError } from '../errors.js';
import type { TargetWorkerConfig, WorkerMessage } from '../ipc/worker-messages.js';
import type { LandedGrain } from '../fabrics/media/grain-receiver.js';
import { EndpointHandle, type RecordOptions } from './endpoint-handle.js';
import { EventKind, EventRecord } from '../ipc/event-records.js';

/**
 * One grain (or slice range) that landed in the target flow: the engine's LandedGrain as it
 * crosses the event ring (arrivalNs is the worker's clock), plus its MXL (TAI) timestamp from
 * its index and the flow rate.
 */
export interface ArrivedGrain extends Omit<LandedGrain, 'flags'> {
  sourceTimestampNs: bigint;
}

/** One window of samples that landed in the target flow (audio). */
export interface ArrivedSamples {
  /** One past the newest sample (exclusive end). */
  headIndex: bigint;
  count: number;
  committed: boolean;
  arrivalNs: bigint;
}

export class TargetHandle extends EndpointHandle {
  declare readonly config: TargetWorkerConfig;
  /** Immediates the worker dropped as out of range (since start). */
  dropped = 0;

  /** The TargetInfo string (upstream JSON) to hand to initiators. */
  get info(): string {
    if (!this.ready?.info) throw new FabricsError('MXL_ERR_INVALID_STATE', `${this.name} is not ready`);
    return this.ready.info;
  }
  get flowId(): string { return this.ready!.flowId; }
  get grainCount(): number { return this.ready!.grainCount; }

  /**
   * Grains as they land (one entry per transfer, so partial grains appear several times);
   * `batchMs` (RecordOptions) reads them in batches.
   */
  grains(opts: RecordOptions = {}): AsyncGenerator<ArrivedGrain> {
    if (this.kind !== 'grains') throw new FabricsError('MXL_ERR_INVALID_STATE', `${this.name} receives samples: use samples()`);
    const rate = this.ready!.grainRate;
    const r = { numerator: rate.numerator, denominator: rate.denominator };
    return this.records((d, o) => {
      if (d[o + EventRecord.KIND] !== EventKind.GRAIN) return undefined;
      const index = BigInt(d[o + EventRecord.INDEX]);
      return {
        index,
        slot: d[o + EventRecord.SLOT],
        validSlices: d[o + EventRecord.VALID_SLICES],
        totalSlices: d[o + EventRecord.TOTAL_SLICES],
        committed: d[o + EventRecord.EXTRA] === 1,
        arrivalNs: BigInt(d[o + EventRecord.TIME_NS]),
        sourceTimestampNs: indexToTimestamp(index, r),
      };
    }, opts);
  }

  /** 'grains' (video, data) or 'samples' (audio). */
  get kind(): 'grains' | 'samples' { return this.ready!.kind; }

  /** Sample windows as they land (audio targets). */
  samples(opts: RecordOptions = {}): AsyncGenerator<ArrivedSamples> {
    if (this.kind !== 'samples') throw new FabricsError('MXL_ERR_INVALID_STATE', `${this.name} receives grains: use grains()`);
    return this.records((d, o) => {
      if (d[o + EventRecord.KIND] !== EventKind.SAMPLES) return undefined;
      return { headIndex: BigInt(d[o + EventRecord.INDEX]), count: d[o + EventRecord.VALID_SLICES], committed: d[o + EventRecord.EXTRA] === 1, arrivalNs: BigInt(d[o + EventRecord.TIME_NS]) };
    }, opts);
  }

  status(): Promise<unknown> {
    return this.request({ type: 'status' });
  }

  protected onWorkerEvent(m: WorkerMessage): void {
    if (m.type === 'peer') {
      if (m.event === 'error') this.emit('peerError', m.error ? FabricsError.fromRecord(m.error) : undefined);
      else this.emit(m.event, { connection: m.peer });
    } else if (m.type === 'dropped') {
      this.dropped++;
      this.emit('dropped', m);
    }
  }
}
