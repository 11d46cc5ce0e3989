/**
 * One step of a source paced at the flow's real rate, shared by the demo and the bench: write
 * the grain that is current now (catching up past grains the process was too late for), then
 * sleep until just before the next one is current.
 */
import { currentIndex, nsUntilIndex, type Rational } from '../domain/time.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Writes grain max(current, next) through `writeAll` and waits for the following one. Returns
 * the index to pass next time and how many grains (per stream) were skipped to catch up.
 */
export async function pacedStep(rate: Rational, next: bigint, writeAll: (index: bigint) => void): Promise<{ next: bigint; skipped: number }> {
  const now = currentIndex(rate);
  const skipped = now > next + 1n ? Number(now - next - 1n) : 0;
  writeAll(now);
  // MXL grain i is current from half a period before its timestamp: wake just before.
  await sleep(Math.max(0, Number(nsUntilIndex(now + 1n, rate)) / 1e6 - 0.5));
  return { next: now + 1n, skipped };
}
