#!/usr/bin/env node
// Package bin: runs the compiled CLI (shipped in the npm package; in a checkout `npm run setup` builds it).
import('../build/src/cli/main.js')
  .then((m) => m.main(process.argv.slice(2)))
  .catch((e) => {
    console.error(`mxl-fabrics: ${e && e.code === 'ERR_MODULE_NOT_FOUND' ? 'not built yet: run `npm run setup`' : e?.message ?? e}`);
    process.exitCode = 3;
  });
