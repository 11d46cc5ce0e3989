// Endpoint labels from the flow (kind, flow id, name), the fault classifiers the workers
// use, and the JSON log event format.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { Fabrics } from '../../src/runtime/coordinator.js';
import { audioDef, AUDIO_FLOW_ID } from '../cli/fixtures/pattern.js';
import { InitiatorFaults, TargetFaults, completionErrno, peerFailureReason } from '../../src/metrics/endpoint-faults.js';
import { EndpointStats, Word } from '../../src/metrics/endpoint-stats.js';
import type { InitiatorEvent } from '../../src/fabrics/initiator.js';
import type { TargetEvent } from '../../src/fabrics/target.js';
import { formatEvent, EventLog } from '../../src/log/event-log.js';
import { one, parseExposition } from './helpers.js';

const dirs: string[] = [];
const domain = (): string => { const d = fs.mkdtempSync(path.join('/dev/shm', 'mxlf-labels-')); dirs.push(d); return d; };
test.after.always(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

const DATA_FLOW = '0f4a8b42-5d5b-4c55-9a53-1b2b6b2f9d11';
const dataDef = JSON.stringify({
  id: DATA_FLOW, label: 'labels test anc', format: 'urn:x-nmos:format:data', tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['test:anc'] },
  grain_rate: { numerator: 50, denominator: 1 }, media_type: 'video/smpte291',
});

test.serial('runtime endpoints are labelled with their name, their flow id and the kind of their flow (audio, data)', async (t) => {
  const fx = new Fabrics({ metrics: true });
  try {
    await fx.createTarget({ name: 'mic-rx', provider: 'tcp', node: '127.0.0.1', domain: domain(), flowDef: audioDef() });
    await fx.createTarget({ name: 'anc-rx', provider: 'tcp', node: '127.0.0.1', domain: domain(), flowDef: dataDef });
    const { samples } = parseExposition(await fx.metrics!.metrics());
    const mic = one(samples, 'mxl_fabrics_endpoint_info', { endpoint: 'mic-rx' }).labels;
    t.is(mic.kind, 'audio');
    t.is(mic.flow_id, AUDIO_FLOW_ID);
    const anc = one(samples, 'mxl_fabrics_endpoint_info', { endpoint: 'anc-rx' }).labels;
    t.is(anc.kind, 'data');
    t.is(anc.flow_id, DATA_FLOW);
    t.is(one(samples, 'mxl_fabrics_endpoint_ready', { endpoint: 'mic-rx' }).value, 1);
    // A name that cannot be a label is refused before any worker starts.
    await t.throwsAsync(fx.createTarget({ name: 'bad name', provider: 'tcp', node: '127.0.0.1', domain: domain(), flowDef: dataDef }), { message: /endpoint name "bad name" must match/ });
  } finally {
    await fx.close();
  }
});

test('peer failure texts of the initiator engine map to bounded reasons', (t) => {
  t.is(peerFailureReason('write failed: fi errno 104', true), 'write_error');
  t.is(peerFailureReason('no write completion for 5000 ms: the target stopped responding (process gone or stalled)', true), 'stall_timeout');
  t.is(peerFailureReason('the target closed the connection', true), 'connection_lost');
  t.is(peerFailureReason('target 127.0.0.1:5000: connection error: Connection refused', false), 'connect_failed');
  t.is(peerFailureReason('fi_connect failed (-111)', false), 'connect_failed');
  t.is(peerFailureReason('cannot create an endpoint: out of memory', false), 'endpoint_error');
  t.is(peerFailureReason('removed', true), undefined);
  t.is(completionErrno('write failed: fi errno -121'), -121);
  t.is(completionErrno('the target closed the connection'), undefined);
});

test('a log event is one JSON line: time, level, endpoint, target id, session epoch, message; absent fields left out', (t) => {
  const at = new Date('2026-12-01T22:00:00.123Z');
  t.is(formatEvent('warn', 'target: initiator disconnected', { endpoint: 'rx-a', target_id: '1234', session_epoch: 7 }, at),
    '{"time":"2026-12-01T22:00:00.123Z","level":"warn","endpoint":"rx-a","target_id":"1234","session_epoch":7,"msg":"target: initiator disconnected"}\n');
  t.is(formatEvent('info', 'a "quoted"\nline', {}, at), '{"time":"2026-12-01T22:00:00.123Z","level":"info","msg":"a \\"quoted\\"\\nline"}\n');
  const out: string[] = [];
  const log = new EventLog({ write: (s: string) => out.push(s) }, { endpoint: 'tx' });
  log.child({ target_id: '9' }).write('error', 'boom');
  log.write('info', 'hello', { endpoint: 'override' });
  const [a, b] = out.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.like(a, { level: 'error', endpoint: 'tx', target_id: '9', msg: 'boom' });
  t.like(b, { level: 'info', endpoint: 'override', msg: 'hello' });
  t.false('target_id' in b);
  t.true(out.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')));
});

test('the session engine\'s events, once emitted, move their counters (deferred, session start/end, torn grain prevented)', (t) => {
  const s = EndpointStats.create();
  const ini = new InitiatorFaults(s);
  for (const type of ['deferred', 'deferred', 'sessionStarted', 'sessionEnded', 'torn']) ini.onEvent({ type, target: 1n, index: 5n } as unknown as InitiatorEvent);
  new TargetFaults(s).onEvent({ type: 'sessionStarted' } as unknown as TargetEvent);
  t.deepEqual([Word.WRITES_DEFERRED, Word.SESSIONS_STARTED, Word.SESSIONS_ENDED, Word.TORN_GRAINS_PREVENTED].map((w) => s.read(w)), [2, 2, 1, 1]);
});
