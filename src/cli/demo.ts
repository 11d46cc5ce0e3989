/** `mxl-fabrics demo` (placeholder until implemented). */
import { UsageError } from './exit-codes.js';

export async function runDemo(argv: string[]): Promise<number> {
  throw new UsageError('demo: not implemented yet');
}
