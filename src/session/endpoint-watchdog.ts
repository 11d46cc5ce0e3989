/**
 * Says at once when an endpoint worker stops moving: `dead` when the worker failed or
 * exited (the handle's 'error', with the worker's own error), `stalled` when its poll loop
 * stopped iterating (every worker loop iterates at least every few tens of ms, even idle,
 * so seconds without an iteration mean it is stuck), and `recovered` when a stalled one
 * iterates again.
 */
import { EventEmitter } from 'node:events';
import { FabricsError } from '../errors.js';
import { Word } from '../metrics/endpoint-stats.js';
import type { EndpointHandle } from '../runtime/endpoint-handle.js';

export interface WatchdogOptions {
  /** No poll iteration for this long = stalled (default 3000 ms). */
  stallMs?: number;
  /** How often the counter is looked at (default 500 ms). */
  checkMs?: number;
}

export class EndpointWatchdog extends EventEmitter {
  private timer?: NodeJS.Timeout;
  private last = -1;
  private lastChange = performance.now();
  private stalled = false;
  private done = false;

  constructor(readonly handle: EndpointHandle, opts: WatchdogOptions = {}) {
    super();
    const stallMs = opts.stallMs ?? 3000;
    handle.on('error', (e: FabricsError) => this.dead(e));
    handle.once('exit', (code: number) => {
      if (handle.state === 'failed') this.dead(new FabricsError('MXL_ERR_INTERNAL', `${handle.name}: worker exited (code ${code})`));
    });
    this.timer = setInterval(() => {
      if (this.done || handle.state !== 'ready') return;
      const n = handle.stats.read(Word.POLL_ITERATIONS);
      const now = performance.now();
      if (n !== this.last) {
        this.last = n;
        this.lastChange = now;
        if (this.stalled) {
          this.stalled = false;
          this.emit('recovered');
        }
      } else if (!this.stalled && now - this.lastChange >= stallMs) {
        this.stalled = true;
        this.emit('stalled', new FabricsError('MXL_ERR_TIMEOUT', `${handle.name}: worker stalled: no poll iteration for ${Math.round(now - this.lastChange)} ms`));
      }
    }, opts.checkMs ?? 500);
    this.timer.unref();
  }

  private dead(e: FabricsError): void {
    if (this.done) return;
    this.done = true;
    this.stop();
    this.emit('dead', e);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
