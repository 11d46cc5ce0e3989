/** Every command of the CLI with its one-line summary, in the order `--help` lists them. */
import { runCheck } from './check.js';
import { runDemo } from './demo.js';
import { runFlows } from './flows.js';
import { runInfo } from './info.js';
import { runInitiator } from './initiator.js';
import { runTarget } from './target.js';
import { runWriter } from './writer.js';

export interface Command { summary: string; run: (argv: string[]) => number | Promise<number> }

export const COMMANDS: Readonly<Record<string, Command>> = {
  info: { summary: 'list fabric interfaces usable for remote writes', run: (a) => runInfo(a) },
  flows: { summary: 'list the flows of an MXL domain (like mxl-info)', run: (a) => runFlows(a) },
  target: { summary: 'receive a flow: set up a target and write its TargetInfo', run: runTarget },
  initiator: { summary: 'send a flow: forward every grain of a local flow to a target', run: runInitiator },
  writer: { summary: 'synthetic source: write a flow at its real rate, payload set by the index', run: runWriter },
  check: { summary: "verify a writer's flow at the far end: ok / corrupt / missing, latency", run: runCheck },
  bench: { summary: 'bench across two hosts: bench target on one, bench initiator on the other', run: (a) => import('./bench.js').then((m) => m.runBench(a)) },
  demo: { summary: 'loopback demo: a synthetic 1080p50 flow carried over fabrics and verified', run: runDemo },
};
