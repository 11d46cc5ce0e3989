/** `mxl-fabrics target` (placeholder until implemented). */
import { UsageError } from './exit-codes.js';

export async function runTarget(argv: string[]): Promise<number> {
  throw new UsageError('target: not implemented yet');
}
