import test from 'ava';
import { addon, loadAddonFrom } from '../../src/native/index.js';
import { FabricsError } from '../../src/errors.js';

test('the addon loads and reports the libfabric it runs against', (t) => {
  const a = addon();
  t.regex(a.fabricVersion(), /^\d+\.\d+$/);
  t.true(Number(a.fabricVersion().split('.')[0]) >= 1);
});

test('a missing addon file gives one actionable error', (t) => {
  const err = t.throws(() => loadAddonFrom('/nonexistent/mxl_fabrics.node'), { instanceOf: FabricsError });
  t.is(err?.code, 'ERR_MXL_ADDON_LOAD');
  t.regex(err!.message, /apt-get install -y libfabric1 libfabric-dev/);
  t.regex(err!.message, /npm run build:native/);
});
