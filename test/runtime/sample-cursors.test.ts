// Audio follow mode's cursor per target (src/workers/sample-cursors.ts): which windows go to
// which target when one of them is full, new, gone, or behind.
import test from 'ava';
import { SampleCursors } from '../../src/workers/sample-cursors.js';

const HALF = 4800n; // half of a 9,600-sample ring
const BATCH = 480n;
const MAX = 480n;

/** Runs one pass; `full` targets refuse windows. Returns the windows as "end/count→ids". */
function pass(c: SampleCursors, head: bigint, ids: bigint[], full: Set<bigint> = new Set(), fell: bigint[] = []) {
  const sent: string[] = [];
  const r = c.forward(head, MAX, { ids, accepts: (id) => !full.has(id) }, (end, count, to) => sent.push(`${end}/${count}→${to.join(',')}`), () => fell.push(head));
  return { sent, ...r };
}

test('a target attaches with the most recent commit, then gets every later sample once', (t) => {
  const c = new SampleCursors(HALF, BATCH);
  t.deepEqual(pass(c, 9600n, [1n]).sent, ['9600/480→1']);
  t.deepEqual(pass(c, 9600n, [1n]).sent, [], 'nothing new: nothing sent');
  t.deepEqual(pass(c, 10_560n, [1n]).sent, ['10080/480→1', '10560/480→1'], 'two commits: two windows');
  t.deepEqual(pass(c, 10_800n, [1n]).sent, ['10800/240→1'], 'a short commit: a short window');
});

test('targets in step share each window', (t) => {
  const c = new SampleCursors(HALF, BATCH);
  pass(c, 9600n, [1n, 2n]);
  t.deepEqual(pass(c, 10_080n, [1n, 2n]).sent, ['10080/480→1,2']);
});

test('a full target holds back only its own windows; it catches up from its own cursor once it drains', (t) => {
  const c = new SampleCursors(HALF, BATCH);
  pass(c, 9600n, [1n, 2n]);
  const held = pass(c, 10_560n, [1n, 2n], new Set([2n]));
  t.deepEqual(held.sent, ['10080/480→1', '10560/480→1'], 'target 1 stays on time');
  t.true(held.backlog, 'target 2 has samples waiting');
  t.is(c.cursor(2n), 9600n);
  const drained = pass(c, 11_040n, [1n, 2n]);
  t.deepEqual(drained.sent, ['10080/480→2', '10560/480→2', '11040/480→1,2'], 'target 2 gets what it missed, in order, then both share again');
  t.false(drained.backlog);
});

test('a target more than half a ring behind skips to half a ring behind, counted for it alone', (t) => {
  const c = new SampleCursors(HALF, BATCH);
  pass(c, 9600n, [1n, 2n]);
  const fell: bigint[] = [];
  // Target 2 full while the source writes 6,000 samples more (more than the half ring);
  // target 1 keeps up.
  let r = pass(c, 12_480n, [1n, 2n], new Set([2n]), fell);
  t.is(fell.length, 0);
  r = pass(c, 15_600n, [1n, 2n], new Set([2n]), fell);
  t.is(r.sent.length, 7, 'target 1 gets the 3,120 samples since its last window');
  t.true(r.sent.every((w) => w.endsWith('→1')));
  t.is(fell.length, 1, 'one skip, for target 2');
  t.is(c.cursor(2n), 15_600n - HALF, 'target 2 waits half a ring behind the head');
  r = pass(c, 15_600n, [1n, 2n], new Set(), fell);
  t.is(r.sent.length, 10, 'once it drains, target 2 gets the half ring the source still holds');
  t.is(r.sent[0], `${15_600n - HALF + MAX}/480→2`);
  t.true(r.sent.every((w) => w.endsWith('→2')));
  t.is(fell.length, 1);
});

test('a new target attaches on its own; a target that went away attaches again when it is back', (t) => {
  const c = new SampleCursors(HALF, BATCH);
  pass(c, 9600n, [1n]);
  t.deepEqual(pass(c, 10_080n, [1n, 2n]).sent, ['10080/480→1,2'], 'target 2 starts with the latest commit, the one target 1 is due as well');
  t.deepEqual(pass(c, 10_080n, [1n, 2n, 3n]).sent, ['10080/480→3'], 'target 3, connecting between commits, gets that commit on its own');
  pass(c, 10_560n, [1n]);
  t.is(c.cursor(2n), undefined, 'a target that is not connected has no cursor');
  t.deepEqual(pass(c, 11_040n, [1n, 2n]).sent, ['11040/480→1,2'], 'back: the latest commit, which target 1 is due as well');
});

test('a head that moved back (a restarted writer) re-attaches every target', (t) => {
  const c = new SampleCursors(HALF, BATCH);
  pass(c, 96_000n, [1n, 2n]);
  t.deepEqual(pass(c, 48_480n, [1n, 2n]).sent, ['48480/480→1,2']);
});

test('no targets, or an empty flow: nothing is sent and the cursors are forgotten', (t) => {
  const c = new SampleCursors(HALF, BATCH);
  pass(c, 9600n, [1n]);
  t.deepEqual(pass(c, 10_080n, []).sent, []);
  t.is(c.cursor(1n), undefined);
  t.deepEqual(pass(c, 0n, [1n]).sent, []);
  t.is(c.cursor(1n), undefined);
});

test('every target full: nothing sent, the backlog is reported', (t) => {
  const c = new SampleCursors(HALF, BATCH);
  const r = pass(c, 9600n, [1n, 2n], new Set([1n, 2n]));
  t.deepEqual(r.sent, []);
  t.true(r.backlog);
});
