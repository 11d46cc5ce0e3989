// Runs inside a fresh project that installed the mxl-fabrics tarball (copied there by
// install.test.ts): ten 720p v210 grains from one temporary domain to another over tcp on
// 127.0.0.1 through the package's public API, each payload compared byte for byte.
//   node loopback.mjs SRC_DOMAIN DST_DOMAIN   -> prints {"ok":N,"bad":[...]} and exits 0 if all arrived intact
import { createHash } from 'node:crypto';
import { Fabrics, MxlInstance } from 'mxl-fabrics';

const [srcDir, dstDir] = process.argv.slice(2);
const flowId = '0c4a0f55-3f4f-4a8e-9d35-5e0b6a1f0a01';
const def = JSON.stringify({
  id: flowId, label: 'package loopback', format: 'urn:x-nmos:format:video', tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['package:test'] }, grain_rate: { numerator: 50, denominator: 1 },
  frame_width: 1280, frame_height: 720, media_type: 'video/v210', interlace_mode: 'progressive', colorspace: 'BT709', components: [],
});
const fill = (p, index) => { for (let i = 0; i < p.length; i += 4096) p.fill(Number((index * 31n + BigInt(i >> 12)) & 0xffn), i, Math.min(p.length, i + 4096)); };
const sha = (b) => createHash('sha1').update(b).digest('hex');

const fx = new Fabrics();
const src = new MxlInstance(srcDir);
const dst = new MxlInstance(dstDir);
try {
  const target = await fx.createTarget({ provider: 'tcp', node: '127.0.0.1', domain: dstDir, flowDef: def });
  const w = src.createFlowWriter(def);
  const ini = await fx.createInitiator({ provider: 'tcp', node: '127.0.0.1', domain: srcDir, flowId });
  const connected = new Promise((r) => ini.once('connected', r));
  await ini.addTarget(target.info);
  await connected;
  const first = 1000n;
  const sums = new Map();
  for (let i = first; i < first + 10n; i++) {
    const g = w.openGrain(i);
    fill(g.payload, i);
    sums.set(i, sha(g.payload));
    w.commitGrain({});
    if (!ini.transferGrain(i)) throw new Error(`grain ${i} not queued`);
  }
  await ini.flush();
  const r = dst.openDiscreteFlowReader(flowId);
  const bad = [];
  let ok = 0;
  for (const [i, sum] of sums) {
    const g = await r.getGrain(i, { timeoutMs: 5000 });
    if (g.status !== 'OK') bad.push(`${i}: ${g.status}`);
    else if (sha(g.payload) !== sum) bad.push(`${i}: payload differs`);
    else ok++;
  }
  r.close();
  w.close?.();
  console.log(JSON.stringify({ ok, bad }));
  process.exitCode = bad.length === 0 && ok === 10 ? 0 : 1;
} finally {
  await fx.close();
  src.close();
  dst.close();
}
