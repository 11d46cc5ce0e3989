// One RMA write with remote CQ data through the thin wrappers only: the transport that
// everything else stands on, checked byte for byte on tcp (FI_EP_MSG) and shm (FI_EP_RDM).
import test from 'ava';
import { addon } from '../../src/native/index.js';
import type { NativeEndpoint, NativeInfo } from '../../src/native/fabric.js';

const a = addon();
const C = a.constants;
const MR_MODE = Number(C.FI_MR_VIRT_ADDR | C.FI_MR_LOCAL | C.FI_MR_ALLOCATED | C.FI_MR_PROV_KEY);

function until(cond: () => boolean, what: string, ms = 5000): void {
  const end = Date.now() + ms;
  while (!cond()) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`${provider}: an RMA write with immediate lands in a registered buffer`, (t) => {
    const msg = provider === 'tcp';
    const epType = msg ? C.FI_EP_MSG : C.FI_EP_RDM;
    const tInfo: NativeInfo = a.getInfo({ provider, epType, caps: C.FI_RMA | C.FI_REMOTE_WRITE, mrMode: MR_MODE, source: true,
      ...(msg ? { node: '127.0.0.1' } : { node: `rawt${process.pid}`, service: 'x' }) })[0];
    t.truthy(tInfo, `${provider} provider available`);
    const fab = new a.Fabric(tInfo);
    const dom = new a.Domain(fab, tInfo);
    const dst = new ArrayBuffer(64 << 10);
    const mrT = new a.MemoryRegion(dom, dst, 0, dst.byteLength, C.FI_REMOTE_WRITE, 0x51n);
    const cqT = new a.CompletionQueue(dom, 16, true);
    const eqT = new a.EventQueue(fab, 8);
    let address: Buffer;
    let epT: NativeEndpoint | undefined;
    if (msg) {
      const pep = new a.PassiveEndpoint(fab, tInfo, 1n);
      pep.bind(eqT);
      pep.listen();
      address = pep.getName();
    } else {
      epT = new a.Endpoint(dom, tInfo, 1n);
      epT.bind(new a.AddressVector(dom, 4));
      epT.bind(cqT, C.FI_RECV | C.FI_TRANSMIT);
      epT.enable();
      address = epT.getName();
    }

    const iInfo = a.getInfo({ provider, epType, caps: C.FI_RMA | C.FI_WRITE, mrMode: MR_MODE,
      ...(msg ? {} : { node: `rawi${process.pid}`, service: 'x', source: true }) })[0];
    const fabI = new a.Fabric(iInfo);
    const domI = new a.Domain(fabI, iInfo);
    const src = new Uint8Array(8192);
    for (let i = 0; i < src.length; i++) src[i] = (i * 7 + 3) & 0xff;
    const mrI = new a.MemoryRegion(domI, src, 0, src.byteLength, C.FI_WRITE, 0x52n);
    const cqI = new a.CompletionQueue(domI, 16, true);
    const epI = new a.Endpoint(domI, iInfo, 2n);
    let dest = C.FI_ADDR_UNSPEC;
    const eqI = new a.EventQueue(fabI, 8);
    if (msg) {
      epI.bind(eqI);
      epI.bind(cqI, C.FI_TRANSMIT | C.FI_RECV);
      t.is(epI.connect(address), 0);
      let up = 0;
      until(() => {
        const e = eqT.read();
        if (e?.event === 'connreq') {
          epT = new a.Endpoint(dom, e.info, 3n);
          epT.bind(eqT);
          epT.bind(cqT, C.FI_RECV | C.FI_TRANSMIT);
          t.is(epT.accept(Buffer.from([0])), 0);
        } else if (e?.event === 'connected') up++;
        if (eqI.read()?.event === 'connected') up++;
        return up === 2;
      }, 'connection');
    } else {
      const av = new a.AddressVector(domI, 4);
      epI.bind(av);
      epI.bind(cqI, C.FI_TRANSMIT | C.FI_RECV);
      epI.enable();
      dest = av.insert(address);
    }

    const virt = (tInfo.mrMode ?? 0) & Number(C.FI_MR_VIRT_ADDR);
    const base = virt ? mrT.address : 0n;
    const imm = 9 | (1080 << 16);
    const rec = new BigUint64Array(4 * 8);
    let rc = -11;
    until(() => {
      rc = epI.write([[mrI, 100, 4000]], dest, base + 512n, mrT.key, imm, C.FI_DELIVERY_COMPLETE, 77n);
      if (rc === -11) { cqI.drain(rec); cqT.drain(rec); }
      return rc !== -11;
    }, 'a free transmit slot');
    t.is(rc, 0);
    let target: bigint[] = [], local: bigint[] = [];
    until(() => {
      if (!target.length && cqT.drain(rec) > 0) target = [...rec.slice(0, 4)];
      if (!local.length && cqI.drain(rec) > 0) local = [...rec.slice(0, 4)];
      if (msg) { eqT.read(); eqI.read(); }
      return target.length > 0 && local.length > 0;
    }, 'completions');
    t.is(local[0], 77n, 'initiator completion carries our context');
    t.is(local[1] & C.CQ_ERROR_BIT, 0n);
    t.not(target[1] & C.FI_REMOTE_CQ_DATA, 0n, 'target completion has remote CQ data');
    t.is(Number(target[2]) & 0xffff, 9);
    t.is(Number(target[2]) >>> 16, 1080);
    const got = new Uint8Array(dst, 512, 4000);
    t.deepEqual(Buffer.from(got), Buffer.from(src.subarray(100, 4100)));
    t.is(new Uint8Array(dst)[511], 0, 'nothing written before the target offset');
    t.is(new Uint8Array(dst)[4512], 0, 'nothing written past the end');
    for (const o of [epI, epT!, mrI, mrT, cqI, cqT]) o.close();
  });
}
