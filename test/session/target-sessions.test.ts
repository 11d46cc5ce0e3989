// The initiator's session bookkeeping on the main thread (src/session/target-session.ts):
// which completion counts as a swapped target's resumption. A stand-in InitiatorHandle and
// TargetInfo source drive it in-process; the transport itself is tested in test/faults/.
import test from 'ava';
import { EventEmitter } from 'node:events';
import { TargetSessions, type ResumedEvent } from '../../src/session/target-session.js';
import { parseTargetInfoText, type ParsedTargetInfo } from '../../src/session/target-info-text.js';
import type { TargetInfoSource } from '../../src/session/target-info-source.js';
import type { CompletedGrain, InitiatorHandle } from '../../src/runtime/initiator-handle.js';

const infoText = (id: string): string => JSON.stringify({ addressFormat: 2, fabricAddress: 'AgCybn8AAAEAAAAAAAAAAA==', id, provider: 'tcp', regions: [{ addr: '0', len: '5537792', rkey: '1' }] });
const parsed = (id: string): ParsedTargetInfo => parseTargetInfoText(infoText(id), 'test', 'target #1');

/** A file-like source whose changes the test fires. */
class FiredSource implements TargetInfoSource {
  readonly kind = 'file' as const;
  readonly from = 'test';
  private cur = parsed('1');
  private readonly listeners = new Set<(next: ParsedTargetInfo, prev: ParsedTargetInfo) => void>();
  current(): ParsedTargetInfo { return this.cur; }
  async refresh(): Promise<boolean> { return false; }
  onChange(cb: (next: ParsedTargetInfo, prev: ParsedTargetInfo) => void): () => void { this.listeners.add(cb); return () => this.listeners.delete(cb); }
  close(): void { this.listeners.clear(); }
  fire(id: string): void {
    const prev = this.cur;
    this.cur = parsed(id);
    for (const cb of this.listeners) cb(this.cur, prev);
  }
}

/** addTarget answers peers 1, 2, ... as the worker does. */
function standInInitiator(): InitiatorHandle & EventEmitter {
  const ini = new EventEmitter() as InitiatorHandle & EventEmitter;
  let next = 1;
  Object.assign(ini, {
    addTarget: async (text: string) => ({ peer: next++, targetId: JSON.parse(text).id as string }),
    removeTarget: async () => {},
  });
  return ini;
}

const hrNs = (): bigint => process.hrtime.bigint();
const done = (peer: number, index: bigint, timeNs: bigint): CompletedGrain => ({ index, count: 0, endSlice: 1080, peer, latencyNs: 1e6, timeNs });
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

async function swapped(): Promise<{ ss: TargetSessions; ini: EventEmitter; resumed: ResumedEvent[] }> {
  const ini = standInInitiator();
  const ss = new TargetSessions(ini);
  const src = new FiredSource();
  await ss.add([src]);
  const resumed: ResumedEvent[] = [];
  ss.on('resumed', (e: ResumedEvent) => resumed.push(e));
  ss.completion(done(1, 10n, hrNs()));
  ini.emit('disconnected', { peer: 1, reason: 'killed' });
  src.fire('2'); // the new target's TargetInfo: swapped to peer 2
  await settle();
  return { ss, ini, resumed };
}

test('the new target\'s first completion is its resumption', async (t) => {
  const { ss, resumed } = await swapped();
  ss.completion(done(2, 14n, hrNs()));
  t.is(resumed.length, 1);
  t.is(resumed[0].firstIndex, 14n);
  t.is(resumed[0].lost, 3, 'grains 11-13 reached neither target');
  ss.close();
});

test('a failure of the new target seen before its earlier completion is read does not hide the resumption', async (t) => {
  const { ss, ini, resumed } = await swapped();
  // The worker completed grain 14 at the new target, then lost it; the failure event reaches
  // the main thread at once, the completion only with the next batch of records.
  const completedAt = hrNs();
  await settle();
  ini.emit('disconnected', { peer: 2, reason: 'killed again' });
  ss.completion(done(2, 14n, completedAt));
  t.is(resumed.length, 1, 'resumed once, with the swap\'s downtime');
  t.is(resumed[0].firstIndex, 14n);
  ss.close();
});

test('completions of the replaced target after the swap are not a resumption', async (t) => {
  const { ss, resumed } = await swapped();
  ss.completion(done(1, 11n, hrNs()));
  t.is(resumed.length, 0);
  ss.completion(done(2, 12n, hrNs()));
  t.is(resumed.length, 1);
  ss.close();
});
