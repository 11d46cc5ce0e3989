/** `mxl-fabrics flows`: the flows of an MXL domain, like upstream's mxl-info. */
import { FabricsError } from '../errors.js';
import { canonicalUuid, formatFlowsJson, formatFlowsTable, listFlows } from '../domain/index.js';
import { UsageError } from './exit-codes.js';
import { parseFlags, requireDomain } from './endpoint-options.js';

export const flowsHelp = `usage: mxl-fabrics flows -d DOMAIN [-f FLOW_ID] [--json]

Lists every flow of an MXL domain, one line each (like upstream's mxl-info):
id, format, media type, rate, ring size (grains, or samples x channels for audio),
head index, lag behind the TAI clock (grains or samples), whether a writer holds it,
and the label.
  -d, --domain    the MXL domain directory (required)
  -f, --flow      only this flow (exit 1 if it does not exist)
      --json      machine-readable output (an array; bigints as decimal strings)
      --verbose   stack traces on errors
  -h, --help      this text`;

export function runFlows(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): number {
  const values = parseFlags('flows', argv, {
    domain: { type: 'string', short: 'd' },
    flow: { type: 'string', short: 'f' },
    json: { type: 'boolean' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { out(`${flowsHelp}\n`); return 0; }
  const domain = requireDomain('flows', values.domain as string | undefined);
  let rows = listFlows(domain);
  if (values.flow !== undefined) {
    const id = canonicalUuid(values.flow as string);
    if (!id) throw new UsageError(`flows: -f takes a flow id (a UUID), not ${JSON.stringify(values.flow)}`);
    rows = rows.filter((r) => r.id === id);
    if (rows.length === 0) throw new FabricsError('MXL_ERR_FLOW_NOT_FOUND', `flows: flow ${id} not found in domain ${domain}: run \`mxl-fabrics flows -d ${domain}\` to list its flows`);
  }
  out(values.json ? `${formatFlowsJson(rows)}\n` : formatFlowsTable(rows));
  return 0;
}
