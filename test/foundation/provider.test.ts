import test from 'ava';
import { Provider, providerFromString, providerToString } from '../../src/fabrics/provider.js';
import { FI, InterfaceCaps, buildHints, checkSetupCaps, parseEndpointAddress } from '../../src/fabrics/provider-config.js';
import { FabricsError } from '../../src/errors.js';

test('provider values and strings match upstream', (t) => {
  t.deepEqual([Provider.Any, Provider.Tcp, Provider.Verbs, Provider.Efa, Provider.Shm], [0, 1, 2, 3, 4]);
  for (const s of ['any', 'tcp', 'verbs', 'efa', 'shm']) t.is(providerToString(providerFromString(s)) as string, s);
  for (const s of ['TCP', 'tcp;ofi_rxm', '', 'ofi']) {
    t.is(t.throws(() => providerFromString(s), { instanceOf: FabricsError })?.code, 'MXL_ERR_INVALID_ARG');
  }
  t.is(t.throws(() => providerToString(9))?.message, 'unknown provider value 9');
});

const ALL_MR = FI.MR_VIRT_ADDR | FI.MR_LOCAL | FI.MR_ALLOCATED | FI.MR_PROV_KEY;

test('hints for verbs and efa follow docs/protocol.md §2.2 (no hardware needed)', (t) => {
  const vt = buildHints(Provider.Verbs, 'target', InterfaceCaps.REMOTE_WRITE, { node: '10.1.2.3', service: '1312' });
  t.is(vt.provider, 'verbs');
  t.is(vt.epType, FI.EP_MSG);
  t.is(vt.caps, FI.REMOTE_WRITE | FI.RMA);
  t.is(vt.mrMode, ALL_MR);
  t.is(vt.mode, 0n);
  t.is(vt.addrFormat, 2);
  t.is(vt.node, '10.1.2.3');
  t.is(vt.service, '1312');
  const vi6 = buildHints(Provider.Verbs, 'initiator', InterfaceCaps.REMOTE_WRITE | InterfaceCaps.SEND_RECEIVE, { node: 'fe80::1' });
  t.is(vi6.caps, FI.WRITE | FI.RMA | FI.SEND | FI.RECV);
  t.is(vi6.addrFormat, 3);
  const ef = buildHints(Provider.Efa, 'target', InterfaceCaps.REMOTE_WRITE, { node: 'fe80::4a:2eff:fe12:3456' });
  t.is(ef.provider, 'efa');
  t.is(ef.epType, FI.EP_RDM);
  t.is(ef.mrMode, ALL_MR);
  t.is(ef.service, undefined);
  const shm = buildHints(Provider.Shm, 'initiator', InterfaceCaps.REMOTE_WRITE, { node: 'cam1', service: 'video' });
  t.is(shm.epType, FI.EP_RDM);
  t.is(shm.node, 'cam1');
  t.is(shm.service, 'video');
});

test('setup addresses and capabilities are validated like upstream', (t) => {
  const code = (f: () => unknown) => (t.throws(f, { instanceOf: FabricsError }) as FabricsError).code;
  t.is(code(() => parseEndpointAddress(Provider.Tcp, 'localhost')), 'MXL_ERR_INVALID_ARG');
  t.is(code(() => parseEndpointAddress(Provider.Tcp, undefined, '1312')), 'MXL_ERR_INVALID_ARG');
  t.is(code(() => parseEndpointAddress(Provider.Tcp, '127.0.0.1', 'http')), 'MXL_ERR_INVALID_ARG');
  t.is(code(() => parseEndpointAddress(Provider.Efa, '10.0.0.1')), 'MXL_ERR_INVALID_ARG');
  t.is(code(() => buildHints(Provider.Any, 'target', InterfaceCaps.REMOTE_WRITE)), 'MXL_ERR_INVALID_STATE');
  t.is(code(() => checkSetupCaps(0)), 'MXL_ERR_INVALID_ARG');
  t.is(code(() => checkSetupCaps(InterfaceCaps.SEND_RECEIVE)), 'MXL_ERR_NO_FABRIC');
  t.notThrows(() => checkSetupCaps(InterfaceCaps.REMOTE_WRITE | InterfaceCaps.BLOCKING_OPERATIONS));
});

test('the libfabric bit values used in TS match the installed headers', async (t) => {
  const { addon } = await import('../../src/native/index.js');
  const C = addon().constants as unknown as Record<string, bigint>;
  for (const [k, v] of Object.entries(FI)) t.is(String(v), String(C[`FI_${k}`]), `FI_${k}`);
});
