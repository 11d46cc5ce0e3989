/**
 * `npm run bench`: runs every bench there is, one after another, each in its own process
 * (benches busy-poll and gate on an idle machine, so never two at once).
 *
 *   node build/bench/run.js [--quick] [--only fabrics|domain|runtime[,...]]
 *
 * Benches: build/bench/fabrics/throughput.js (always), then every build/bench/domain/*.js and
 * build/bench/runtime/*.js that exists. A .js file that another bench in the same folder
 * names (a child/worker script such as wake-reader.js) is a helper, not a bench, and is not
 * run on its own. --quick is passed to the benches that take it (fabrics, runtime).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url)); // build/bench
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log('usage: node build/bench/run.js [--quick] [--only fabrics|domain|runtime[,...]]\n\n' +
    'Runs every bench one after another, each in its own process (see docs/bench.md).\n' +
    '  --quick   shorter runs (passed to the fabrics and runtime benches)\n  --only    only these groups');
  process.exit(0);
}
const quick = args.includes('--quick');
const onlyArg = args.includes('--only') ? args[args.indexOf('--only') + 1] ?? '' : '';
const only = onlyArg ? new Set(onlyArg.split(',')) : undefined;

interface Bench { group: string; file: string; args: string[] }

function benchesIn(group: string, extra: string[]): Bench[] {
  const dir = path.join(HERE, group);
  if (!fs.existsSync(dir)) return [];
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.js')).sort();
  const sources = new Map(files.map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
  const helper = (f: string): boolean => files.some((g) => g !== f && sources.get(g)!.includes(f));
  return files.filter((f) => !helper(f)).map((f) => ({ group, file: path.join(dir, f), args: extra }));
}

const benches: Bench[] = [];
const fabrics = path.join(HERE, 'fabrics', 'throughput.js');
if (fs.existsSync(fabrics)) benches.push({ group: 'fabrics', file: fabrics, args: quick ? ['--quick'] : [] });
benches.push(...benchesIn('domain', []));
benches.push(...benchesIn('runtime', quick ? ['--quick'] : []));

const selected = benches.filter((b) => !only || only.has(b.group));
if (selected.length === 0) {
  console.error(`bench: nothing to run${only ? ` for --only ${onlyArg}` : ''}; build first with npx tsc -p tsconfig.json`);
  process.exit(1);
}

const failures: string[] = [];
for (const b of selected) {
  const rel = path.relative(process.cwd(), b.file);
  console.log(`\n=== ${rel} ${b.args.join(' ')} (${new Date().toISOString()})\n`);
  // Each bench has its own deadlines; this one only catches a hung bench.
  const r = spawnSync(process.execPath, [b.file, ...b.args], { stdio: 'inherit', timeout: 30 * 60_000, killSignal: 'SIGKILL' });
  if (r.status !== 0) failures.push(`${rel}: ${r.status ?? r.signal}`);
}
if (failures.length) {
  console.error(`\nbench: ${failures.length} failed:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
