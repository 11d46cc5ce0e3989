/** Registers the commands that live outside main.ts (kept apart so main stays small). */
import { registerCommand } from './main.js';
import { runFlows } from './flows.js';
import { runTarget } from './target.js';
import { runInitiator } from './initiator.js';
import { runDemo } from './demo.js';

registerCommand('flows', 'list the flows of an MXL domain (like mxl-info)', runFlows);
registerCommand('target', 'receive a flow: set up a target and write its TargetInfo', runTarget);
registerCommand('initiator', 'send a flow: forward every grain of a local flow to a target', runInitiator);
registerCommand('demo', 'loopback demo: a synthetic 1080p50 flow carried over fabrics and verified', runDemo);
registerCommand('bench', 'bench across two hosts: bench target on one, bench initiator on the other', (a) => import('./bench.js').then((m) => m.runBench(a)));
