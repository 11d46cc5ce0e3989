import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import os from 'node:os';
import { getInterfaces } from '../../src/fabrics/interfaces.js';
import { InterfaceCaps } from '../../src/fabrics/provider-config.js';
import { FabricsError } from '../../src/errors.js';

const cli = new URL('../../../bin/mxl-fabrics.js', import.meta.url).pathname;

test('interfaces include tcp on 127.0.0.1 (lo) and shm on this host', (t) => {
  const all = getInterfaces();
  const tcp = all.find((i) => i.provider === 'tcp' && i.address.node === '127.0.0.1');
  t.truthy(tcp, 'a tcp interface on 127.0.0.1');
  t.is(tcp!.device, 'lo');
  t.true((tcp!.caps.flags & InterfaceCaps.REMOTE_WRITE) !== 0);
  t.true((tcp!.caps.flags & InterfaceCaps.BLOCKING_OPERATIONS) !== 0);
  t.true(tcp!.caps.maxMessageSize > 0n);
  t.is(tcp!.attr.ep_type, 'FI_EP_MSG');
  const shm = all.find((i) => i.provider === 'shm');
  t.truthy(shm);
  t.is(shm!.address.node, os.hostname());
  t.is(shm!.attr.ep_type, 'FI_EP_RDM');
});

test('filters by provider and by node', (t) => {
  const tcp = getInterfaces({ provider: 'tcp' });
  t.true(tcp.length > 0);
  t.true(tcp.every((i) => i.provider === 'tcp'));
  const shm = getInterfaces({ provider: 'shm' });
  t.true(shm.length > 0 && shm.every((i) => i.provider === 'shm'));
  const lo = getInterfaces({ node: '127.0.0.1' });
  t.deepEqual([...new Set(lo.map((i) => i.provider))], ['tcp']);
  t.is(getInterfaces({ provider: 'shm', node: '127.0.0.1' }).length, 0);
  t.is(getInterfaces({ node: '203.0.113.77' }).length, 0);
});

test('an unknown provider string is a typed MXL_ERR_INVALID_ARG', (t) => {
  const e = t.throws(() => getInterfaces({ provider: 'infiniband' }), { instanceOf: FabricsError });
  t.is(e?.code, 'MXL_ERR_INVALID_ARG');
  t.is(e?.field, 'provider');
});

test('the info CLI prints upstream-style lines and JSON', (t) => {
  const text = execFileSync(process.execPath, [cli, 'info', '-p', 'tcp', '-n', '127.0.0.1'], { encoding: 'utf8' });
  t.regex(text, /^interface tcp-\d+ node 127\.0\.0\.1 dev lo$/m);
  const json = JSON.parse(execFileSync(process.execPath, [cli, 'info', '--json'], { encoding: 'utf8' }));
  t.true(json.interfaces.some((i: { provider: string }) => i.provider === 'shm'));
  const bad = spawnSync(process.execPath, [cli, 'info', '-p', 'nope'], { encoding: 'utf8' });
  t.is(bad.status, 2, 'a provider name info does not know is a usage error (docs/cli.md)');
  t.regex(bad.stderr, /-p\/--provider must be tcp, verbs, efa or shm, not "nope"/);
  t.is(bad.stderr.trim().split('\n').length, 1);
});
