/**
 * Loads the C++ addon once per thread and returns its declared surface.
 *
 * Search order: $MXL_FABRICS_ADDON alone when set; otherwise build/native/Release,
 * build/native/Debug (a source build: it exists only when someone built it, so it wins),
 * then prebuilds/<platform>-<arch>/ (the binary shipped in the npm package). The first file
 * that loads wins; one that exists but does not load (another libc, a missing library)
 * gives way to the next. Nothing loads: one FabricsError (ERR_MXL_ADDON_LOAD) that says
 * what to install and what to run, for a checkout and for an installed package alike.
 * docs/install.md explains the choice of this loader over prebuildify/node-gyp-build.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { FabricsError, type FabricsErrorCode } from '../errors.js';
import type { NativeFabric } from './fabric.js';
import type { NativeShm } from './shm.js';

export type NativeAddon = NativeFabric & NativeShm & {
  fabricVersion(): string;
  /** Status name for an OS errno (sign ignored): the addon's map is the only one. */
  statusForErrno(errno: number): FabricsErrorCode;
  headerVersion: string;
  _setErrorClass(ctor: typeof FabricsError): void;
};

const require = createRequire(import.meta.url);
/** Repository (or installed package) root: this file is build/src/native/index.js. */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** A git checkout has the TypeScript sources' tsconfig; the npm package does not ship it. */
export const isCheckout = (root = packageRoot): boolean => existsSync(path.join(root, 'tsconfig.json'));

export const ADDON_FILE = 'mxl_fabrics.node';
/** Where `npm pack` puts the prebuilt addon for this platform (scripts/prebuild.mjs). */
export const prebuiltDir = (root = packageRoot): string => path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);

export const addonCandidates = (): string[] => {
  const env = process.env.MXL_FABRICS_ADDON;
  if (env) return [path.resolve(env)];
  return [
    ...['Release', 'Debug'].map((t) => path.join(packageRoot, 'build', 'native', t, ADDON_FILE)),
    path.join(prebuiltDir(), ADDON_FILE),
  ];
};

/** The system packages a source build needs, per distribution family (one list, used by every message). */
export const BUILD_PACKAGES = {
  debian: 'apt-get install -y libfabric-dev pkgconf g++ make cmake',
  rhel: 'dnf install -y libfabric-devel pkgconf-pkg-config gcc-c++ make cmake',
} as const;
export const RUNTIME_PACKAGES = { debian: 'apt-get install -y libfabric1', rhel: 'dnf install -y libfabric' } as const;

/** What to do when the addon does not load: checkout (build it) vs installed package (install libfabric / rebuild). */
export function setupHint(root = packageRoot): string {
  if (isCheckout(root)) {
    return 'install the system packages with `apt-get install -y libfabric1 libfabric-dev pkgconf cmake ninja-build g++` ' +
      'and build the addon with `npm run build:native` (or run `npm run setup`, which does both)';
  }
  return `install libfabric (Debian/Ubuntu: \`${RUNTIME_PACKAGES.debian}\`; RHEL/Amazon Linux: \`${RUNTIME_PACKAGES.rhel}\`), ` +
    `or build the addon from source with \`npm rebuild mxl-fabrics\` (npm >= 11.10: \`npm install-scripts approve mxl-fabrics\` first) after \`${BUILD_PACKAGES.debian}\` ` +
    `(RHEL/Amazon Linux: \`${BUILD_PACKAGES.rhel}\`); a libfabric in its own prefix: ` +
    'MXL_FABRICS_LIBFABRIC=/opt/amazon/efa npm rebuild mxl-fabrics (see docs/install.md)';
}

let cached: NativeAddon | undefined;
let loadedFrom: string | undefined;

/** Loads the addon from an explicit file (tests use this to check the error path). */
export function loadAddonFrom(file: string): NativeAddon {
  if (!existsSync(file)) {
    throw new FabricsError('ERR_MXL_ADDON_LOAD', `mxl-fabrics native addon not built (no ${file}): ${setupHint()}`, { op: 'require' });
  }
  // libfabric links libinfinipath (psm provider), whose load-time constructor replaces the
  // process's SIGINT/SIGSEGV/SIGBUS... handlers with its own backtrace-and-exit ones unless
  // this is set: Ctrl-C would then kill Node without running any handler. See docs/native.md.
  process.env.IPATH_NO_BACKTRACE ??= '1';
  let mod: NativeAddon;
  try {
    mod = require(file) as NativeAddon;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const msg = String(err?.message ?? e);
    const lib = /lib[\w.+-]*\.so[.\d]*/.exec(msg)?.[0];
    const what = lib ? `${lib} is missing` : `the addon at ${file} failed to load (${msg})`;
    throw new FabricsError('ERR_MXL_ADDON_LOAD', `mxl-fabrics native addon cannot load: ${what}: ${setupHint()}`, { op: 'dlopen', detail: msg, cause: e });
  }
  mod._setErrorClass(FabricsError);
  return mod;
}

export function addon(): NativeAddon {
  if (cached) return cached;
  const napi = Number(process.versions.napi ?? 0);
  if (napi < 8) throw new FabricsError('ERR_MXL_ADDON_LOAD', `Node-API version 8 is needed, this Node has ${napi}: use Node >= 20`);
  const files = addonCandidates();
  const present = files.filter((f) => existsSync(f));
  let first: unknown;
  for (const f of present) {
    try {
      cached = loadAddonFrom(f);
      loadedFrom = f;
      return cached;
    } catch (e) {
      first ??= e;
    }
  }
  if (first) throw first;
  return loadAddonFrom(files[0]); // throws: not built
}

/** The file the addon was loaded from (undefined before the first successful load). */
export const addonPath = (): string | undefined => loadedFrom;
