// Who owns an shm target's region (src/fabrics/connection/shm-peer.ts): real shm endpoints
// in this process and in a child that is SIGKILLed, real region files in /dev/shm.
import test, { type ExecutionContext } from 'ava';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RdmEndpoint } from '../../src/fabrics/connection/rdm-endpoint.js';
import { shmRegionName, watchShmTarget } from '../../src/fabrics/connection/shm-peer.js';
import { openFabric } from '../../src/fabrics/fabric-setup.js';
import { addon } from '../../src/native/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const addressText = (b: Buffer): string => b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)).toString('latin1');
const is117 = addon().fabricVersion() === '1.17';

test('shmRegionName: fi_shm:// names and plain names are /dev/shm files, anything else is none', (t) => {
  t.is(shmRegionName('fi_shm://mxlf-1-1-ab:0:0'), 'mxlf-1-1-ab:0:0');
  t.is(shmRegionName('mxlf-1-1-ab:0:0'), 'mxlf-1-1-ab:0:0');
  t.is(shmRegionName('fi_ns://1234:0:0'), undefined);
  t.is(shmRegionName('fi_shm://../etc/passwd'), undefined);
  t.is(shmRegionName(''), undefined);
});

test('ProcessWatch: this process is running; a pid that does not exist is MXL_ERR_NOT_FOUND, a bad pid MXL_ERR_INVALID_ARG', (t) => {
  const w = new (addon().ProcessWatch)(process.pid);
  t.false(w.exited());
  w.close();
  t.true(w.closed);
  const e = t.throws(() => new (addon().ProcessWatch)(0x3ffffffe));
  t.is((e as { code?: string }).code, 'MXL_ERR_NOT_FOUND');
  const PW = addon().ProcessWatch as unknown as new (...x: unknown[]) => unknown;
  for (const bad of [['x'], [], [0], [-1]]) {
    t.is((t.throws(() => new PW(...bad)) as { code?: string }).code, 'MXL_ERR_INVALID_ARG', `ProcessWatch(${bad.join(', ')})`);
  }
});

test('an shm endpoint of this process is watched under this pid', (t) => {
  const f = openFabric({ provider: 'shm' }, 'target');
  const cq = new (addon().CompletionQueue)(f.domain, 8, false);
  const ep = new RdmEndpoint(f, cq, 1n);
  try {
    const p = watchShmTarget(addressText(ep.address));
    t.is(p.kind, 'watched');
    if (p.kind !== 'watched') return;
    t.is(p.pid, process.pid);
    t.false(p.watch.exited());
    p.watch.close();
  } finally {
    ep.close();
    cq.close();
    f.domain.close();
    f.fabric.close();
  }
});

test('a region whose header names a live process that does not map it is not watched', (t) => {
  const name = `mxlf-test-${randomBytes(4).toString('hex')}`;
  const file = path.join('/dev/shm', name);
  const h = Buffer.alloc(64);
  h[0] = 4;
  h.writeInt32LE(process.pid, 4);
  h.writeInt32LE(1, 24);
  fs.writeFileSync(file, h);
  t.teardown(() => fs.rmSync(file, { force: true }));
  const p = watchShmTarget(`fi_shm://${name}`);
  t.is(p.kind, 'unknown');
  t.regex((p as { reason: string }).reason, /does not have region/);
  t.is(watchShmTarget('fi_shm://mxlf-no-such-region').kind, 'unknown');
});

/**
 * A child with one shm endpoint: prints its address, then waits to be killed. Its region is
 * named outside the generated `mxlf-<pid>-` names, which any process opening its first shm
 * fabric sweeps once their pid is dead (src/fabrics/fabric-setup.ts): the tests here read
 * the dead child's region after the kill, while other test files run.
 *
 * The lock word is read and written through a descriptor opened while the child lives: it
 * is the region the watch mapped, whatever later happens to the name. Twice a CI run found
 * the name gone (once after the kill, once before it, between the child printing its
 * address and this process opening the file; who unlinked it is not known, nothing in
 * this project unlinks such names; libfabric's shm provider unlinks its own regions' names
 * in its handler of fatal signals, which may be how). That is not what these tests are
 * about, so a child whose region is gone before the kill is logged with its state and
 * replaced, at most twice, and a name gone after the kill is put back (see the first test).
 */
async function shmChild(t: ExecutionContext): Promise<{ child: ChildProcess; exit: Promise<unknown>; address: string; file: string; fd: number }> {
  for (let attempt = 1; ; attempt++) {
    const c = await spawnShmChild(t);
    try {
      const fd = fs.openSync(c.file, 'r+');
      t.teardown(() => fs.closeSync(fd));
      return { ...c, fd };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 3) throw e;
      const state = await Promise.race([c.exit.then(() => `exited (code ${c.child.exitCode}, signal ${c.child.signalCode})`), new Promise((r) => setTimeout(() => r('still running'), 200))]);
      t.log(`attempt ${attempt}: region ${c.file} was gone before the test touched it; the child ${c.child.pid} ${state}`);
      c.child.kill('SIGKILL');
    }
  }
}

async function spawnShmChild(t: ExecutionContext): Promise<{ child: ChildProcess; exit: Promise<unknown>; address: string; file: string }> {
  const script = `
    const { openFabric } = await import(${JSON.stringify(path.resolve(here, '../../src/fabrics/fabric-setup.js'))});
    const { RdmEndpoint } = await import(${JSON.stringify(path.resolve(here, '../../src/fabrics/connection/rdm-endpoint.js'))});
    const { addon } = await import(${JSON.stringify(path.resolve(here, '../../src/native/index.js'))});
    const f = openFabric({ provider: 'shm', node: ${JSON.stringify(`mxlf-test-peer-${randomBytes(4).toString('hex')}`)} }, 'target');
    const ep = new RdmEndpoint(f, new (addon().CompletionQueue)(f.domain, 8, false), 1n);
    const b = ep.address;
    console.log(b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)).toString('latin1'));
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exit = new Promise((r) => child.once('exit', r));
  t.teardown(() => child.kill('SIGKILL'));
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => { out += d; if (out.includes('\n')) resolve(out.trim()); });
    child.once('exit', () => reject(new Error('child exited before printing its address')));
  });
  const file = path.join('/dev/shm', shmRegionName(address)!);
  t.teardown(() => fs.rmSync(file, { force: true }));
  return { child, exit, address, file };
}

const lockWord = (fd: number): number => {
  const b = Buffer.alloc(4);
  fs.readSync(fd, b, 0, 4, 24);
  return b.readInt32LE(0);
};
const setLockWord = (fd: number, v: number): void => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v, 0);
  fs.writeSync(fd, b, 0, 4, 24);
};
// The lock's values are glibc x86-64's (1 free, <= 0 held); the layout is libfabric 1.17's.
const lockKnown = is117 && process.arch === 'x64';

test('a SIGKILLed target: its watch says exited, its region is refused once its lock is held', async (t) => {
  t.timeout(20_000);
  const { child, exit, address, file, fd } = await shmChild(t);
  const live = watchShmTarget(address);
  t.is(live.kind, 'watched');
  if (live.kind !== 'watched') return;
  t.is(live.pid, child.pid!);
  t.false(live.watch.exited());
  child.kill('SIGKILL');
  await exit;
  t.true(live.watch.exited(), 'the pidfd says the process exited');
  live.watch.close();

  // A SIGKILLed process leaves its region behind; what is checked below is how the watch
  // judges such a region. Rarely its name is gone by now (see shmChild): then the region's
  // bytes, read through the descriptor, are put back under the name, which is the state
  // a dead owner leaves.
  let regionFd = fd;
  if (!fs.existsSync(file)) {
    t.log(`the dead child's region name ${file} was unlinked by someone else; restored from its descriptor`);
    const bytes = Buffer.alloc(fs.fstatSync(fd).size);
    fs.readSync(fd, bytes, 0, bytes.length, 0);
    fs.writeFileSync(file, bytes, { mode: 0o600 });
    regionFd = fs.openSync(file, 'r+');
    t.teardown(() => fs.closeSync(regionFd));
  }
  // Dead owner, lock free: harmless to write to, not refused.
  t.is(watchShmTarget(address).kind, 'unknown');
  if (!lockKnown) return t.log(`libfabric ${addon().fabricVersion()} on ${process.arch}: the region lock is only known for 1.17 on x64`);
  // Dead owner, lock held (what a kill inside its progress call leaves): refused.
  setLockWord(regionFd, 0);
  const dead = watchShmTarget(address);
  t.is(dead.kind, 'gone');
  t.regex((dead as { reason: string }).reason, new RegExp(`process ${child.pid} has exited and left its region`));
});

(lockKnown ? test : test.skip)('a target that dies holding its region lock: the watch frees the lock, once the owner is gone and not before', async (t) => {
  t.timeout(20_000);
  const { child, exit, address, fd } = await shmChild(t);
  const p = watchShmTarget(address);
  t.is(p.kind, 'watched');
  if (p.kind !== 'watched') return;
  t.true(p.watch.releasing);
  // The child "holds" its lock (the value a holder leaves) while alive: nothing is freed.
  setLockWord(fd, 0);
  await new Promise((r) => setTimeout(r, 100));
  t.is(lockWord(fd), 0, 'a live owner keeps its lock');
  t.false(p.watch.releasedLock);
  child.kill('SIGKILL');
  await exit;
  for (const end = Date.now() + 2000; lockWord(fd) <= 0 && Date.now() < end;) await new Promise((r) => setTimeout(r, 5));
  t.is(lockWord(fd), 1, 'the dead owner\'s lock is free again');
  t.true(p.watch.releasedLock);
  t.true(p.watch.exited());
  p.watch.close();
});

(lockKnown ? test : test.skip)('a free lock is left alone when the owner dies, and a closed watch frees nothing', async (t) => {
  t.timeout(20_000);
  const a = await shmChild(t);
  const free = watchShmTarget(a.address);
  t.is(free.kind, 'watched');
  a.child.kill('SIGKILL');
  await a.exit;
  await new Promise((r) => setTimeout(r, 100));
  if (free.kind === 'watched') { t.false(free.watch.releasedLock); free.watch.close(); }
  t.is(lockWord(a.fd), 1);
  if (!fs.existsSync(a.file)) t.log(`the dead owner's region name ${a.file} was unlinked by someone else`);

  const b = await shmChild(t);
  const closed = watchShmTarget(b.address);
  t.is(closed.kind, 'watched');
  if (closed.kind === 'watched') closed.watch.close();
  setLockWord(b.fd, 0);
  b.child.kill('SIGKILL');
  await b.exit;
  await new Promise((r) => setTimeout(r, 100));
  t.is(lockWord(b.fd), 0, 'no watch, no release');
});
