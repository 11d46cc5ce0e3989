/** `mxl-fabrics initiator` (placeholder until implemented). */
import { UsageError } from './exit-codes.js';

export async function runInitiator(argv: string[]): Promise<number> {
  throw new UsageError('initiator: not implemented yet');
}
