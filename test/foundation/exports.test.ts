import test from 'ava';
import * as lib from '../../src/index.js';

test('the package root exports the runtime, the engine, the domain and the metrics API', (t) => {
  for (const name of ['Fabrics', 'Target', 'Initiator', 'TargetInfo', 'MxlInstance', 'MetricsExporter', 'EndpointStats', 'FabricsError',
    'getInterfaces', 'providerFromString', 'ringFromWriter', 'ringFromReader', 'ringFromBuffers', 'currentIndex', 'indexToTimestamp']) {
    t.is(typeof (lib as Record<string, unknown>)[name], 'function', name);
  }
  t.is(lib.MxlStatus.MXL_ERR_NOT_READY, 1029);
  t.is(lib.Provider.Shm, 4);
});

test('the raw addon is not part of the public API', (t) => {
  const names = Object.keys(lib);
  t.false(names.includes('nativeAddon'));
  t.false(names.includes('addon'));
  t.is(names.filter((n) => /native/i.test(n)).length, 0, names.join(', '));
});
