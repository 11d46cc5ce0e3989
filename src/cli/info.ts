/** `mxl-fabrics info`: lists fabric interfaces like upstream's mxl-fabrics-info (docs/protocol.md §7.2). */
import { capsToStrings, getInterfaces } from '../fabrics/interfaces.js';
import { addon } from '../native/index.js';
import { UsageError } from './exit-codes.js';
import { parseFlags, parseProviderFlag } from './endpoint-options.js';

export const infoHelp = `usage: mxl-fabrics info [-p any|tcp|verbs|efa|shm] [-n NODE] [-v] [--json]

Lists every fabric interface usable for remote writes, one line each:
  interface tcp-0 node 127.0.0.1 dev lo
  -p, --provider   only this provider (default any)
  -n, --node       only interfaces whose address is NODE (IP, GID, or hostname for shm)
  -v, --verbose    capabilities, max message size and every attribute
      --json       machine-readable output`;

export function runInfo(argv: string[], out: (s: string) => void = console.log): number {
  const values = parseFlags('info', argv, {
    provider: { type: 'string', short: 'p' },
    node: { type: 'string', short: 'n' },
    verbose: { type: 'boolean', short: 'v' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }) as { provider?: string; node?: string; verbose?: boolean; json?: boolean; help?: boolean };
  if (values.help) { out(infoHelp); return 0; }
  const provider = parseProviderFlag('info', values.provider) ?? 'any'; // a name it does not know: exit 2
  const list = getInterfaces({ provider, node: values.node });
  if (values.json) {
    out(JSON.stringify({ libfabric: addon().fabricVersion(), interfaces: list }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2));
    return 0;
  }
  if (list.length === 0) {
    out(`no interface found${values.provider ? ` for provider ${values.provider}` : ''}${values.node ? ` on node ${values.node}` : ''}`);
    return 0;
  }
  for (const i of list) {
    out(`interface ${i.name} node ${i.address.node} dev ${i.device}`);
    if (values.verbose) {
      out(`    provider: ${i.provider}`);
      out(`    caps: ${capsToStrings(i.caps.flags).join(', ')}`);
      out(`    max message size: ${i.caps.maxMessageSize}`);
      for (const [k, v] of Object.entries(i.attr)) {
        out(`    ${k}: ${k === 'link_speed' ? `${(Number(v) / 1e9).toFixed(1)} Gbit/s` : v}`);
      }
    }
  }
  return 0;
}

export { UsageError };
