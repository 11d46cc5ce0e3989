/** `mxl-fabrics flows` (placeholder until implemented). */
import { UsageError } from './exit-codes.js';

export async function runFlows(argv: string[]): Promise<number> {
  throw new UsageError('flows: not implemented yet');
}
