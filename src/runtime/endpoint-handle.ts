/**
 * Main-thread side of one endpoint worker: starts it, waits for its ready record, turns
 * its failures into FabricsErrors (with the caller's stack), sends control requests,
 * reads its event ring, and stops, or restarts it with the same configuration.
 */
import { EventEmitter } from 'node:events';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { FabricsError } from '../errors.js';
import { addon } from '../native/index.js';
import { EndpointStats } from '../metrics/endpoint-stats.js';
import type { ControlMessage, WorkerConfig, WorkerData, WorkerMessage } from '../ipc/worker-messages.js';
import { ControlBlock, type PollMode } from '../ipc/control-block.js';
import { EVENT_RING_CAPACITY, EventRecord, REQUEST_RING_CAPACITY, RequestRecord } from '../ipc/event-records.js';
import { SpscRing } from '../ipc/spsc-ring.js';

export type EndpointState = 'starting' | 'ready' | 'closing' | 'closed' | 'failed';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type ControlRequest = DistributiveOmit<ControlMessage, 'id'>;

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

export abstract class EndpointHandle extends EventEmitter {
  state: EndpointState = 'starting';
  readonly stats = EndpointStats.create();
  /** Times the worker was (re)started. */
  starts = 0;
  protected worker?: Worker;
  protected control!: ControlBlock;
  protected events!: SpscRing;
  protected requests?: SpscRing;
  private port?: MessagePort;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; site: Error }>();
  private exited?: Promise<number>;
  protected ready?: Extract<WorkerMessage, { type: 'ready' }>;

  constructor(readonly config: WorkerConfig, private readonly workerFile: URL) {
    super();
  }

  get name(): string { return this.config.name; }
  get pollMode(): PollMode { return this.control.pollMode; }
  set pollMode(m: PollMode) { this.control.pollMode = m; }
  /** Records the worker could not hand over because the consumer fell behind. */
  get overflow(): number { return this.events.overflow; }
  /** Worker utilisation as reported by Node (close to 1 means it polls busily). */
  utilization(): number | undefined { return this.worker?.performance.eventLoopUtilization().utilization; }

  /** Starts the worker and resolves when the endpoint is set up. */
  async start(): Promise<this> {
    const site = new Error('start');
    this.control = ControlBlock.create({ pollMode: this.config.pollMode });
    this.control.nativeWake = (id) => { addon().wake(id); };
    this.events = SpscRing.create(EVENT_RING_CAPACITY, EventRecord.LENGTH);
    this.requests = this.config.role === 'initiator' ? SpscRing.create(REQUEST_RING_CAPACITY, RequestRecord.LENGTH) : undefined;
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const data: WorkerData = { config: this.config, control: this.control.sab, events: this.events.sab, requests: this.requests?.sab, stats: this.stats.buffer, port: port2 };
    this.state = 'starting';
    this.starts++;
    const worker = new Worker(this.workerFile, { workerData: data, transferList: [port2] });
    this.worker = worker;
    this.exited = new Promise((resolve) => worker.once('exit', resolve));
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new FabricsError('MXL_ERR_TIMEOUT', `${this.name}: worker did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      const done = (e?: Error) => { clearTimeout(timer); if (e) reject(e); else resolve(); };
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') {
          this.ready = m;
          this.state = 'ready';
          done();
        } else if (m.type === 'fatal') {
          const e = FabricsError.fromRecord(m.error, site);
          if (this.state === 'starting') done(e);
          else this.fail(e);
        } else this.onMessage(m);
      });
      worker.on('error', (err) => {
        const e = err instanceof FabricsError ? err : new FabricsError('MXL_ERR_INTERNAL', `${this.name}: worker crashed: ${err.message}`, { cause: err });
        if (this.state === 'starting') done(e);
        else this.fail(e);
      });
      worker.once('exit', (code) => {
        this.rejectPending(new FabricsError('MXL_ERR_INVALID_STATE', `${this.name}: worker exited (code ${code})`));
        if (this.state === 'starting') done(new FabricsError('MXL_ERR_INTERNAL', `${this.name}: worker exited during start (code ${code})`));
        else if (this.state === 'ready') this.fail(new FabricsError('MXL_ERR_INTERNAL', `${this.name}: worker exited unexpectedly (code ${code})`));
        if (this.state !== 'failed') this.state = 'closed';
        this.emit('exit', code);
      });
    });
    try {
      await ready;
    } catch (e) {
      this.state = 'failed';
      await this.stopWorker();
      throw e;
    }
    return this;
  }

  /** Stops the worker and starts a new one with the same configuration. */
  async restart(): Promise<this> {
    await this.stopWorker();
    await this.start();
    this.emit('restarted');
    return this;
  }

  /** Stops the worker; resolves once it has exited and freed its native resources. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closing';
    await this.stopWorker();
    this.state = 'closed';
  }

  /** Kills the worker thread abruptly (for failure tests and emergencies). */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  protected async request<T = unknown>(msg: ControlRequest, timeoutMs = 10_000): Promise<T> {
    if (this.state !== 'ready' || !this.port) throw new FabricsError('MXL_ERR_INVALID_STATE', `${this.name} is ${this.state}`);
    const id = this.nextId++;
    const site = new Error(msg.type);
    const p = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new FabricsError('MXL_ERR_TIMEOUT', `${this.name}: no answer to ${msg.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v as T); },
        reject: (e) => { clearTimeout(timer); reject(e); },
        site,
      });
    });
    this.port.postMessage({ ...msg, id });
    this.control.ring();
    return p;
  }

  /** Messages other than ready/fatal; replies are routed here. */
  protected onMessage(m: WorkerMessage): void {
    if (m.type === 'reply') {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(FabricsError.fromRecord(m.error, p.site));
      return;
    }
    this.onWorkerEvent(m);
  }

  protected abstract onWorkerEvent(m: WorkerMessage): void;

  private fail(e: FabricsError): void {
    this.state = 'failed';
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }

  private rejectPending(e: FabricsError): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private async stopWorker(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.control.requestStop();
    this.events.wake();
    const timeout = () => new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), STOP_TIMEOUT_MS).unref());
    if ((await Promise.race([this.exited!, timeout()])) === 'timeout') {
      // terminate() never settles while the thread is stuck inside native code (seen with
      // libfabric 1.17 shm after its peer was SIGKILLed): bound it too, and let the process
      // exit past the stuck thread instead of hanging in close().
      if ((await Promise.race([w.terminate(), timeout()])) === 'timeout') w.unref();
    }
    this.port?.close();
    this.worker = undefined;
  }

  /**
   * Async iteration over the event ring; `map` turns a record into the yielded value (or
   * undefined to skip it). Ends when the endpoint closes. With `batchMs` > 0 the ring is
   * read every batchMs instead of on the worker's doorbell: records come in batches, and the
   * main thread wakes batchMs apart instead of once per record (docs/runtime.md, batched
   * records).
   */
  protected records<T>(map: (d: Float64Array, off: number) => T | undefined, opts: RecordOptions = {}): AsyncGenerator<T> {
    return this.readRecords(map, checkBatchMs(opts.batchMs)); // a bad option throws here, not at the first next()
  }

  private async *readRecords<T>(map: (d: Float64Array, off: number) => T | undefined, batchMs: number): AsyncGenerator<T> {
    const buf: T[] = [];
    for (;;) {
      const ring = this.events;
      ring.drain((d, off) => {
        const v = map(d as Float64Array, off);
        if (v !== undefined) buf.push(v);
      });
      while (buf.length > 0) yield buf.shift()!;
      if (this.state === 'closed' || this.state === 'failed' || this.state === 'closing') {
        if (ring.available() === 0) return;
        continue;
      }
      // No doorbell armed while napping, so the worker's records wake nobody.
      if (batchMs > 0) await new Promise((r) => setTimeout(r, batchMs));
      else await ring.waitAsync(100);
    }
  }
}

/** How the records of an endpoint's event ring reach an iterator (completions(), grains(), samples()). */
export interface RecordOptions {
  /**
   * Read the ring every batchMs (1..1000) instead of waking at each record: for consumers
   * that count or log, where a main-thread wake per grain is wasted CPU. The iterator then
   * ends up to batchMs after the endpoint closes. 0 (default): each record at once.
   */
  batchMs?: number;
}

function checkBatchMs(v: number | undefined): number {
  if (v === undefined || v === 0) return 0;
  if (!Number.isFinite(v) || v < 1 || v > 1000) throw new FabricsError('MXL_ERR_INVALID_ARG', `batchMs must be 0 or 1..1000 (got ${v})`, { field: 'batchMs' });
  return v;
}
