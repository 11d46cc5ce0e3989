// `npm pack` step (prepack): builds the addon for this platform in a clean Release tree
// (build/prebuild: never the developer's build/native, which may be Debug or ASan) against
// the system libfabric, strips it and puts it in prebuilds/<platform>-<arch>/, then checks
// that it loads. `--clean` (postpack) removes prebuilds/ again: it is never committed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon } from './build-addon.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const prebuilds = path.join(root, 'prebuilds');
if (process.argv.includes('--clean')) {
  fs.rmSync(prebuilds, { recursive: true, force: true });
  process.exit(0);
}
// build/src may hold output of TypeScript files deleted since: never ship those.
const stale = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
  const f = path.join(dir, e.name);
  if (e.isDirectory()) return stale(f);
  const src = path.join(root, path.relative(path.join(root, 'build'), f)).replace(/\.(d\.ts|js\.map|js)$/, '.ts');
  return src.endsWith('.ts') && !fs.existsSync(src) ? [f] : [];
});
for (const f of stale(path.join(root, 'build', 'src'))) fs.rmSync(f);

const env = { ...process.env };
delete env.MXL_FABRICS_LIBFABRIC;
const r = buildAddon({
  root, out: path.join('build', 'prebuild'), logFile: path.join(root, 'build', 'prebuild.log'), env,
  defines: { CMAKE_BUILD_TYPE: 'Release', MXL_FABRICS_ASAN: 'OFF', MXL_FABRICS_LIBFABRIC_DIR: '' },
});
if (!r.ok) {
  console.error(`${r.log}\nprebuild: the addon build failed (log: build/prebuild.log)`);
  process.exit(1);
}
const dir = path.join(prebuilds, `${process.platform}-${process.arch}`);
const file = path.join(dir, 'mxl_fabrics.node');
fs.mkdirSync(dir, { recursive: true });
fs.copyFileSync(path.join(root, 'build', 'prebuild', 'Release', 'mxl_fabrics.node'), file);
spawnSync('strip', ['--strip-unneeded', file], { stdio: 'inherit' }); // optional: binutils may be absent
const check = spawnSync(process.execPath, ['--input-type=module', '-e',
  `const m = await import(${JSON.stringify(path.join(root, 'build', 'src', 'native', 'index.js'))}); console.log(m.addon().fabricVersion());`],
{ env: { ...process.env, MXL_FABRICS_ADDON: file }, encoding: 'utf8' });
if (check.status !== 0) {
  console.error(`prebuild: ${file} does not load:\n${check.stderr}`);
  process.exit(1);
}
console.error(`prebuild: ${path.relative(root, file)} (${fs.statSync(file).size} bytes), loads with libfabric ${check.stdout.trim()}`);
