// The npm package as a user gets it: `npm pack` (whose prepack builds the prebuilt addon),
// then `npm install <tarball>` into fresh temporary projects (offline from the npm cache
// that `npm ci` filled), then the CLI and a loopback transfer through the installed
// package's public API. Also the fallbacks: with the prebuilt removed the install builds
// from source; with libfabric or cmake hidden, one message naming the packages to install.
// CPU heavy (two addon builds): serial, and every step has its own generous timeout.
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupAll, tempShmDir } from '../helpers/child-cleanup.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..'); // build/test/package -> repo
const VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mxlf-pkg-'));
test.after.always(() => { cleanupAll(); fs.rmSync(work, { recursive: true, force: true }); });

interface Run { code: number; out: string; ms: number }
function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  const start = Date.now();
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd ?? work, env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}`, ms: Date.now() - start });
    });
  });
}
const NPM_INSTALL = ['install', '--prefer-offline', '--no-audit', '--no-fund'];

/** A fresh project; `allowScripts` lets npm (>= 11.10 blocks dependency install scripts by default) run ours. */
function project(name: string, allowScripts: boolean): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, type: 'module', ...(allowScripts ? { allowScripts: { 'mxl-fabrics': true } } : {}) }));
  fs.copyFileSync(path.join(ROOT, 'test', 'package', 'loopback.mjs'), path.join(dir, 'loopback.mjs'));
  return dir;
}

let tarball = '';
let files: string[] = [];
test.before(async () => {
  const r = await run('npm', ['pack', '--pack-destination', work, '--loglevel=error'], { cwd: ROOT, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`npm pack failed:\n${r.out}`);
  tarball = path.join(work, `mxl-fabrics-${VERSION}.tgz`);
  files = (await run('tar', ['tzf', tarball])).out.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
});

async function loopback(t: { log: (s: string) => void }, dir: string): Promise<Run> {
  const r = await run(process.execPath, ['loopback.mjs', tempShmDir('mxlf-pkg-src-'), tempShmDir('mxlf-pkg-dst-')], { cwd: dir, timeoutMs: 60_000 });
  if (r.code !== 0) t.log(r.out);
  return r;
}

test.serial('the tarball: prebuilt addon, LICENSE, examples, install hook; no checkout-only files; every source map has its source', async (t) => {
  t.true(files.includes('prebuilds/linux-x64/mxl_fabrics.node'));
  t.true(files.includes('LICENSE'));
  t.true(files.includes('scripts/install.mjs'));
  t.true(files.includes('CMakeLists.txt') && files.some((f) => f.startsWith('native/src/')), 'sources for the source build');
  t.true(files.filter((f) => /^examples\/.+\.json$/.test(f)).length >= 4);
  // bench/lib (and its build) ships: `mxl-fabrics bench` runs on the user's two hosts.
  t.deepEqual(files.filter((f) => !/^(build\/)?bench\/lib\//.test(f) && /^(test|bench)\/|setup\.sh$|tsconfig|\.tsbuildinfo$|^build\/(native|prebuild|test|bench)\//.test(f)), []);
  t.false(fs.existsSync(path.join(ROOT, 'prebuilds')), 'postpack removed prebuilds/ from the checkout');
  const maps = files.filter((f) => f.endsWith('.js.map'));
  t.true(maps.length > 0);
  const x = path.join(work, 'unpacked');
  fs.mkdirSync(x);
  await run('tar', ['xzf', tarball, '-C', x]);
  const missing = maps.flatMap((m) => (JSON.parse(fs.readFileSync(path.join(x, 'package', m), 'utf8')).sources as string[])
    .map((s) => path.relative(path.join(x, 'package'), path.resolve(path.dirname(path.join(x, 'package', m)), s))).filter((s) => !files.includes(s)));
  t.deepEqual(missing, [], 'source maps point only to shipped sources');
  const pkg = JSON.parse(fs.readFileSync(path.join(x, 'package', 'package.json'), 'utf8'));
  t.deepEqual(pkg.os, ['linux']);
  t.regex(fs.readFileSync(path.join(x, 'package', 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
  // The prebuilt needs libfabric's stable soname and only 1.x versioned symbols.
  const dyn = await run('readelf', ['--dyn-syms', '-d', '-W', path.join(x, 'package', 'prebuilds', 'linux-x64', 'mxl_fabrics.node')]);
  if (dyn.code !== 0) { t.log('readelf not available: symbol check skipped'); return; }
  t.regex(dyn.out, /NEEDED\).*\[libfabric\.so\.1\]/);
  const versions = [...new Set([...dyn.out.matchAll(/@(FABRIC_[\d.]+)/g)].map((m) => m[1]))].sort();
  t.log(`libfabric symbol versions needed: ${versions.join(' ')}`);
  t.true(versions.length > 0 && versions.every((v) => /^FABRIC_1\.\d+$/.test(v)), versions.join(' '));
});

let sourceProject = '';
test.serial('npm install <tarball> uses the prebuilt addon: --version, info, a verified loopback transfer', async (t) => {
  t.timeout(180_000);
  const dir = project('with-prebuilt', false);
  const inst = await run('npm', [...NPM_INSTALL, tarball], { cwd: dir });
  t.is(inst.code, 0, inst.out);
  t.log(`install with the prebuilt addon: ${(inst.ms / 1000).toFixed(1)} s`);
  t.false(fs.existsSync(path.join(dir, 'node_modules', 'mxl-fabrics', 'build', 'native')), 'nothing was built');
  const v = await run('npx', ['--no-install', 'mxl-fabrics', '--version'], { cwd: dir });
  t.is(v.code, 0, v.out);
  t.is(v.out.trim(), VERSION);
  const info = await run('npx', ['--no-install', 'mxl-fabrics', 'info', '-p', 'tcp'], { cwd: dir });
  t.is(info.code, 0, info.out);
  t.regex(info.out, /^interface tcp-\d+ node 127\.0\.0\.1 dev lo$/m);
  const r = await loopback(t, dir);
  t.is(r.code, 0);
  t.deepEqual(JSON.parse(r.out.trim().split('\n').pop()!), { ok: 10, bad: [] });
});

test.serial('without the prebuilt addon the install builds it from source, and it works', async (t) => {
  t.timeout(300_000);
  const x = path.join(work, 'nopre');
  fs.mkdirSync(x);
  await run('tar', ['xzf', tarball, '-C', x]);
  fs.rmSync(path.join(x, 'package', 'prebuilds'), { recursive: true });
  const stripped = path.join(work, 'no-prebuilt.tgz');
  t.is((await run('tar', ['czf', stripped, '-C', x, 'package'])).code, 0);
  const dir = project('from-source', true);
  const inst = await run('npm', [...NPM_INSTALL, '--foreground-scripts', stripped], { cwd: dir, timeoutMs: 280_000 });
  t.is(inst.code, 0, inst.out);
  t.log(`install with a source build: ${(inst.ms / 1000).toFixed(1)} s`);
  t.regex(inst.out, /mxl-fabrics: built build\/native\/Release\/mxl_fabrics\.node from source in [\d.]+ s \(libfabric \d+\.\d+\)/);
  t.true(fs.existsSync(path.join(dir, 'node_modules', 'mxl-fabrics', 'build', 'native', 'Release', 'mxl_fabrics.node')));
  const r = await loopback(t, dir);
  t.is(r.code, 0);
  t.deepEqual(JSON.parse(r.out.trim().split('\n').pop()!), { ok: 10, bad: [] });
  sourceProject = dir;
});

test.serial('MXL_FABRICS_LIBFABRIC=PREFIX rebuilds against the libfabric in that prefix, found at run time through RUNPATH', async (t) => {
  t.timeout(240_000);
  if (!sourceProject) { t.fail('needs the source-build project of the previous test'); return; }
  const pc = await run('pkg-config', ['--variable=libdir', 'libfabric']);
  const inc = await run('pkg-config', ['--variable=includedir', 'libfabric']);
  if (pc.code !== 0 || inc.code !== 0) { t.log('pkg-config cannot locate the system libfabric: prefix test skipped'); return; }
  // A private prefix, as the EFA installer lays it out: a copy of the system libfabric.
  const prefix = path.join(work, 'libfabric-prefix');
  const libdir = pc.out.trim();
  fs.mkdirSync(path.join(prefix, 'lib', 'pkgconfig'), { recursive: true });
  for (const f of fs.readdirSync(libdir).filter((n) => /^libfabric\.so/.test(n))) fs.cpSync(path.join(libdir, f), path.join(prefix, 'lib', f), { verbatimSymlinks: true });
  fs.cpSync(path.join(inc.out.trim(), 'rdma'), path.join(prefix, 'include', 'rdma'), { recursive: true });
  const version = (await run('pkg-config', ['--modversion', 'libfabric'])).out.trim();
  fs.writeFileSync(path.join(prefix, 'lib', 'pkgconfig', 'libfabric.pc'),
    `prefix=${prefix}\nlibdir=\${prefix}/lib\nincludedir=\${prefix}/include\nName: libfabric\nDescription: copy\nVersion: ${version}\nLibs: -L\${libdir} -lfabric\nCflags: -I\${includedir}\n`);
  const r = await run('npm', ['rebuild', 'mxl-fabrics', '--foreground-scripts'], { cwd: sourceProject, env: { MXL_FABRICS_LIBFABRIC: prefix }, timeoutMs: 220_000 });
  t.is(r.code, 0, r.out);
  t.true(r.out.includes(`building from source against the libfabric in ${prefix}`), r.out);
  const addonFile = path.join(sourceProject, 'node_modules', 'mxl-fabrics', 'build', 'native', 'Release', 'mxl_fabrics.node');
  const ldd = await run('ldd', [addonFile]);
  t.true(ldd.out.includes(`libfabric.so.1 => ${path.join(prefix, 'lib', 'libfabric.so.1')}`), ldd.out);
  const lb = await loopback(t, sourceProject);
  t.is(lb.code, 0);
});

test.serial('a source build without libfabric, or without cmake, stops with one message naming the packages', async (t) => {
  if (!sourceProject) { t.log('needs the source-build project of the previous test'); t.fail('previous test failed'); return; }
  const empty = path.join(work, 'empty');
  fs.mkdirSync(empty);
  // npm rebuild runs the install hook again; an empty pkg-config search path hides libfabric.
  const r = await run('npm', ['rebuild', 'mxl-fabrics', '--foreground-scripts'], { cwd: sourceProject, env: { PKG_CONFIG_LIBDIR: empty, PKG_CONFIG_PATH: empty, MXL_FABRICS_BUILD_FROM_SOURCE: '1' } });
  t.not(r.code, 0);
  t.regex(r.out, /a source build needs what is missing: libfabric >= 1\.17 with headers/);
  for (const p of ['libfabric-dev', 'g++', 'cmake', 'libfabric-devel', 'gcc-c++', 'MXL_FABRICS_LIBFABRIC=/opt/amazon/efa']) t.true(r.out.includes(p), p);
  // A PATH with node, pkg-config, a compiler and make, but no cmake.
  const bin = path.join(work, 'bin-no-cmake');
  fs.mkdirSync(bin);
  for (const c of ['pkg-config', 'c++', 'make']) {
    const found = (process.env.PATH ?? '').split(':').map((d) => path.join(d, c)).find((f) => fs.existsSync(f));
    if (found) fs.symlinkSync(found, path.join(bin, c));
  }
  const hook = path.join(sourceProject, 'node_modules', 'mxl-fabrics', 'scripts', 'install.mjs');
  const nc = await run(process.execPath, [hook], { env: { PATH: bin, MXL_FABRICS_BUILD_FROM_SOURCE: '1' } });
  t.not(nc.code, 0);
  t.regex(nc.out, /a source build needs what is missing: cmake\./);
  t.regex(nc.out, /Debian\/Ubuntu: +apt-get install -y libfabric-dev/);
});
