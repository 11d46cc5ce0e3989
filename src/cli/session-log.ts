/** Log lines of `initiator` for target sessions, and of both endpoints for a stuck worker. */
import { EndpointWatchdog } from '../session/endpoint-watchdog.js';
import type { ReplacedEvent, ResumedEvent, TargetSessions } from '../session/target-session.js';
import type { EndpointHandle } from '../runtime/endpoint-handle.js';
import type { FabricsError } from '../errors.js';
import type { Log } from './endpoint-options.js';

export function logSessionEvents(ss: TargetSessions, log: Log, audio: boolean): void {
  ss.on('replaced', (e: ReplacedEvent) => log.line(`initiator: target #${e.session}: ${e.reason}: replaced target ${e.oldId} by ${e.newId}`));
  ss.on('resumed', (e: ResumedEvent) => log.line(
    `initiator: target #${e.session} resumed: downtime ${Math.round(e.downtimeMs)} ms` +
    (e.gapMs !== undefined ? `, ${Math.round(e.gapMs)} ms since the old target's last ${audio ? 'window' : 'grain'}` : '') +
    (e.lost !== undefined ? `, ${e.lost} ${audio ? 'samples' : 'grains'} lost` : '') + ` (first ${audio ? 'window ends at' : 'grain'} ${e.firstIndex})`));
  ss.on('sessionError', (e: { session: number; error: Error }) => log.line(`initiator: target #${e.session}: could not switch to the new TargetInfo: ${e.error.message}`));
}

/** Logs a stalled worker at once (a dead one fails the command through the handle's 'error'). */
export function watchWorker(cmd: string, h: EndpointHandle, log: Log): EndpointWatchdog {
  const w = new EndpointWatchdog(h);
  w.on('stalled', (e: FabricsError) => log.line(`${cmd}: ${e.message} [${e.code}]`));
  w.on('recovered', () => log.line(`${cmd}: ${h.name}: worker moving again`));
  return w;
}
