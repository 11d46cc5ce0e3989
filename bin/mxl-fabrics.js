#!/usr/bin/env -S node --no-memory-reducer
// Package bin: runs the compiled CLI (shipped in the npm package; in a checkout `npm run setup`
// builds it), under node --no-memory-reducer (docs/runtime.md, "V8's memory reducer").
// SIGINT/SIGTERM while the CLI modules still load are kept for the command (it stops
// cleanly, exit 0) instead of killing the process: src/cli/process-guards.ts takes them.
{
  const signals = [];
  const keep = (s) => signals.push(s);
  process.on('SIGINT', keep);
  process.on('SIGTERM', keep);
  process[Symbol.for('mxl-fabrics.earlySignals')] = { signals, off: () => { process.off('SIGINT', keep); process.off('SIGTERM', keep); } };
}
import('../build/src/cli/main.js')
  .then((m) => m.main(process.argv.slice(2)))
  .catch((e) => {
    console.error(`mxl-fabrics: ${e && e.code === 'ERR_MODULE_NOT_FOUND' ? 'not built yet: run `npm run setup`' : e?.message ?? e}`);
    process.exitCode = 3;
  });
