// Builds the native addon with cmake-js, for the install hook (scripts/install.mjs) and for
// the prebuilt binary `npm pack` ships (scripts/prebuild.mjs). Plain JavaScript: it runs
// before (or without) the TypeScript build. cmake-js finds Node's headers in the
// node-api-headers package (package.json `binary.napi_versions`): nothing is downloaded.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** PKG_CONFIG_PATH with a private libfabric prefix in front (lib/ and lib64/, as the EFA installer uses both). */
export function pkgConfigEnv(prefix, env = process.env) {
  if (!prefix) return env;
  const dirs = ['lib/pkgconfig', 'lib64/pkgconfig'].map((d) => path.join(prefix, d));
  return { ...env, PKG_CONFIG_PATH: [...dirs, env.PKG_CONFIG_PATH].filter(Boolean).join(':') };
}

const onPath = (cmd, env) => {
  if (cmd.includes('/')) return fs.existsSync(cmd);
  return (env.PATH ?? '').split(':').some((d) => d && fs.existsSync(path.join(d, cmd)));
};

/** What a source build lacks on this machine: [] when it can start. */
export function missingPrerequisites(prefix, env = process.env) {
  const missing = [];
  const pcEnv = pkgConfigEnv(prefix, env);
  if (!onPath('pkg-config', env)) missing.push('pkg-config');
  else if (spawnSync('pkg-config', ['--exists', 'libfabric >= 1.17'], { env: pcEnv }).status !== 0) {
    missing.push(`libfabric >= 1.17 with headers (pkg-config finds no libfabric.pc${prefix ? ` under ${prefix}` : ''})`);
  }
  const cxx = env.CXX?.split(' ')[0];
  if (!(cxx ? onPath(cxx, env) : ['c++', 'g++', 'clang++'].some((c) => onPath(c, env)))) missing.push(`a C++17 compiler${cxx ? ` (CXX=${env.CXX})` : ' (c++, g++ or clang++)'}`);
  if (!['make', 'ninja'].some((c) => onPath(c, env))) missing.push('make (or ninja)');
  if (!onPath('cmake', env)) missing.push('cmake');
  return missing;
}

/**
 * Runs `cmake-js compile --out OUT` in `root` (`rebuild` with `clean`: a fresh configure, so
 * CMake's cached pkg-config result cannot keep an earlier libfabric); output goes to `logFile`.
 * Returns { ok, ms, log } (log: the last lines, for an error message).
 */
export function buildAddon({ root, out, prefix, defines = {}, logFile, env = process.env, clean = false }) {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  const args = [cmakeJs, clean ? 'rebuild' : 'compile', '--out', out];
  for (const [k, v] of Object.entries({ ...defines, ...(prefix ? { MXL_FABRICS_LIBFABRIC_DIR: prefix } : {}) })) args.push(`--CD${k}=${v}`);
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const start = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: root, env: pkgConfigEnv(prefix, env), encoding: 'utf8', maxBuffer: 64 << 20 });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}`;
  fs.writeFileSync(logFile, text);
  return { ok: r.status === 0, ms: Date.now() - start, log: text.split('\n').slice(-25).join('\n') };
}
