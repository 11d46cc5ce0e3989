// Domains for tests that need a grain ring deeper than the default 200 ms of history.
import fs from 'node:fs';
import path from 'node:path';
import { tempShmDir } from './child-cleanup.js';

/**
 * A fresh domain under /dev/shm whose flows keep one second of history (50 grains at
 * 50 Hz), so a test's burst or slow consumer stays inside the ring. Removed by cleanupAll.
 */
export function longHistoryDomain(): string {
  const d = tempShmDir('mxlf-test-');
  fs.writeFileSync(path.join(d, 'options.json'), JSON.stringify({ 'urn:x-mxl:option:history_duration/v1.0': 1_000_000_000 }));
  return d;
}
