// Two hosts on one machine: two network namespaces joined by a veth pair with private test
// addresses, a target process in one and an initiator process in the other, over tcp:
// 50 grains of 1080p v210, each checked by checksum at a flow reader in the target's domain.
import test from 'ava';
import { spawn } from 'node:child_process';
import { ip, makeHostPair } from '../helpers/netns.js';
import readline from 'node:readline';
import { currentIndex } from '../../src/domain/index.js';
import { TargetInfo } from '../../src/fabrics/target-info.js';
import { cleanupAll, fixture, pollUntil, spawnTarget, stopProc, tempDomain } from './fixtures/procs.js';

const hosts = makeHostPair('mxlf', 7);
const { ns1: NS1, ns2: NS2, v2: V2, a1: A1, a2: A2 } = hosts;
const skipReason = hosts.skip;

test.after.always(() => {
  cleanupAll();
  hosts.remove();
});

const netnsTest = skipReason ? test.serial.skip : test.serial;
netnsTest(`tcp across two network namespaces: 50 grains of 1080p v210 arrive intact${skipReason ? ` (skipped: ${skipReason})` : ''}`, async (t) => {
  t.timeout(60_000);
  t.regex(ip('-n', NS2, 'route', 'get', A1), new RegExp(`dev ${V2}`), 'the target is reached over the veth pair');
  const target = spawnTarget({ provider: 'tcp', node: A1, width: 1920, height: 1080, maxLifetimeMs: 60_000 }, ['ip', 'netns', 'exec', NS1]);
  const infoText = await target.info;
  const info = TargetInfo.parse(infoText);
  t.regex(info.printableAddress, new RegExp(`^fi_sockaddr_in://${A1.replace(/\./g, '\\.')}:\\d+$`));

  const first = currentIndex({ numerator: 50, denominator: 1 });
  const args = { provider: 'tcp', node: A2, domain: tempDomain(), info: infoText, count: 50, width: 1920, height: 1080, firstIndex: String(first) };
  const t0 = Date.now();
  const ini = spawn('ip', ['netns', 'exec', NS2, process.execPath, fixture('initiator-proc.js'), JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const sent = new Map<bigint, string>();
  let result = '';
  let stderr = '';
  ini.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  readline.createInterface({ input: ini.stdout }).on('line', (line) => {
    const [kind, a, b] = line.split(' ');
    if (kind === 'SENT') sent.set(BigInt(a), b);
    else result = line;
  });
  const exited = new Promise<number | null>((r) => ini.on('exit', (c) => r(c)));
  try {
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), 45_000); })]);
    clearTimeout(timer);
    t.is(code, 0, `initiator process: ${result} ${stderr}`);
    t.is(result, 'DONE');
    t.is(sent.size, 50);
    await pollUntil(() => target.grains.size >= 50, () => undefined, 10_000, 'every grain read back at the target');
    let ok = 0;
    for (const [index, sum] of sent) if (target.grains.get(index) === `${sum} 1080`) ok++;
    t.is(ok, 50, 'every grain arrived intact');
    t.log(`50 grains of 1080p v210 (5.5 MB each) across namespaces in ${Date.now() - t0} ms`);
  } finally {
    if (ini.exitCode === null) ini.kill('SIGKILL');
    await stopProc(target);
  }
});
