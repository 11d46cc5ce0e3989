#!/usr/bin/env node
// npm install hook of the mxl-fabrics package: leaves an addon that loads.
//  1. A prebuilt addon (prebuilds/<platform>-<arch>/) or an earlier source build that
//     loads here: done.
//  2. Otherwise (or with MXL_FABRICS_BUILD_FROM_SOURCE=1 / --build-from-source, or a
//     private libfabric named by MXL_FABRICS_LIBFABRIC / --mxl-fabrics-libfabric=PREFIX):
//     build from source with cmake-js against the system libfabric (or that prefix).
//  3. A source build that cannot start (no libfabric, compiler, make or cmake): one message
//     naming the Debian/Ubuntu and RHEL/Amazon Linux packages; the install fails.
// In a git checkout it does nothing: `npm run setup` builds the addon there.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildAddon, missingPrerequisites } from './build-addon.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const prefix = env.MXL_FABRICS_LIBFABRIC || env.npm_config_mxl_fabrics_libfabric || '';
const force = Boolean(prefix) || env.MXL_FABRICS_BUILD_FROM_SOURCE === '1' || env.npm_config_build_from_source === 'true';
const say = (s) => console.log(`mxl-fabrics: ${s}`);
const oneLine = (s) => String(s).split('\n').map((l) => l.trim()).filter(Boolean).join(' ');

if (fs.existsSync(path.join(root, 'tsconfig.json'))) process.exit(0); // a checkout

const loader = await import(pathToFileURL(path.join(root, 'build', 'src', 'native', 'index.js')).href);
const rel = (f) => path.relative(root, f);

if (!force) {
  try {
    const a = loader.addon();
    say(`using ${rel(loader.addonPath())} (libfabric ${a.fabricVersion()})`);
    process.exit(0);
  } catch (e) {
    say(`no addon loads here (${oneLine(e.message).slice(0, 300)}): building from source`);
  }
} else {
  say(`building from source${prefix ? ` against the libfabric in ${prefix}` : ''}`);
}

const packages = `  Debian/Ubuntu:      ${loader.BUILD_PACKAGES.debian}\n  RHEL/Amazon Linux:  ${loader.BUILD_PACKAGES.rhel}\n` +
  '  a libfabric in its own prefix (EFA: /opt/amazon/efa): MXL_FABRICS_LIBFABRIC=/opt/amazon/efa npm rebuild mxl-fabrics\n' +
  'then run `npm rebuild mxl-fabrics` (docs/install.md in the package).';
const missing = missingPrerequisites(prefix);
if (missing.length > 0) {
  console.error(`mxl-fabrics: no prebuilt addon for ${process.platform}-${process.arch} loads here, and a source build needs what is missing: ${missing.join(', ')}.\n${packages}`);
  process.exit(1);
}
const logFile = path.join(root, 'build', 'native-build.log');
const r = buildAddon({ root, out: path.join('build', 'native'), prefix, logFile, clean: true });
if (!r.ok) {
  console.error(`${r.log}\nmxl-fabrics: the source build of the addon failed (full log: ${logFile}). It needs:\n${packages}`);
  process.exit(1);
}
try {
  const a = loader.addon();
  say(`built ${rel(loader.addonPath())} from source in ${(r.ms / 1000).toFixed(1)} s (libfabric ${a.fabricVersion()})`);
} catch (e) {
  console.error(`mxl-fabrics: the addon was built but does not load: ${oneLine(e.message)}`);
  process.exit(1);
}
