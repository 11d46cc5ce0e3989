// A worker that dies is reported at once, with its error (what `demo` fails fast on and
// `target`/`initiator` exit 1 with): a real target endpoint whose worker thread is killed.
import test from 'ava';
import { FabricsError } from '../../src/errors.js';
import { Fabrics } from '../../src/runtime/coordinator.js';
import { EndpointWatchdog } from '../../src/session/endpoint-watchdog.js';
import { videoDef } from '../cli/fixtures/pattern.js';
import { cleanupAll, tempDir } from '../cli/fixtures/cli.js';

test.after.always(cleanupAll);

test('a killed endpoint worker is reported dead within a second, with a FabricsError; a live one is not stalled', async (t) => {
  const fx = new Fabrics();
  try {
    const target = await fx.createTarget({ provider: 'tcp', node: '127.0.0.1', domain: tempDir(), flowDef: videoDef() });
    const w = new EndpointWatchdog(target, { stallMs: 1500, checkMs: 100 });
    let stalled = false;
    w.on('stalled', () => { stalled = true; });
    await new Promise((r) => setTimeout(r, 2000)); // idle for longer than stallMs: still iterating
    t.false(stalled, 'an idle worker keeps iterating: not stalled');
    const dead = new Promise<FabricsError>((r) => w.once('dead', r));
    const at = performance.now();
    await target.kill();
    const e = await dead;
    t.true(performance.now() - at < 1000, 'reported at once');
    t.true(e instanceof FabricsError);
    t.regex(e.message, /worker exited/);
    w.stop();
  } finally {
    await fx.close();
  }
});
