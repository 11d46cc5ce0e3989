/**
 * Loads the C++ addon once per thread and returns its declared surface.
 *
 * Search order: $MXL_FABRICS_ADDON, then build/native/Release, then build/native/Debug.
 * A missing libfabric or an unbuilt addon becomes one FabricsError (ERR_MXL_ADDON_LOAD)
 * that says what to install and what to run.
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

export const addonCandidates = (): string[] => {
  const env = process.env.MXL_FABRICS_ADDON;
  if (env) return [path.resolve(env)];
  return ['Release', 'Debug'].map((t) => path.join(packageRoot, 'build', 'native', t, 'mxl_fabrics.node'));
};

export const SETUP_HINT =
  'install the system packages with `apt-get install -y libfabric1 libfabric-dev pkgconf cmake ninja-build g++` ' +
  'and build the addon with `npm run build:native` (or run `npm run setup`, which does both)';

let cached: NativeAddon | undefined;

/** Loads the addon from an explicit file (tests use this to check the error path). */
export function loadAddonFrom(file: string): NativeAddon {
  if (!existsSync(file)) {
    throw new FabricsError('ERR_MXL_ADDON_LOAD', `mxl-fabrics native addon not built (no ${file}): ${SETUP_HINT}`, { op: 'require' });
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
    throw new FabricsError('ERR_MXL_ADDON_LOAD', `mxl-fabrics native addon cannot load: ${what}: ${SETUP_HINT}`, { op: 'dlopen', detail: msg, cause: e });
  }
  mod._setErrorClass(FabricsError);
  return mod;
}

export function addon(): NativeAddon {
  if (cached) return cached;
  const napi = Number(process.versions.napi ?? 0);
  if (napi < 8) throw new FabricsError('ERR_MXL_ADDON_LOAD', `Node-API version 8 is needed, this Node has ${napi}: use Node >= 20`);
  const files = addonCandidates();
  const found = files.find((f) => existsSync(f)) ?? files[0];
  cached = loadAddonFrom(found);
  return cached;
}
