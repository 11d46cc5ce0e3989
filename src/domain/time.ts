/**
 * MXL time: u64 nanoseconds on the TAI scale since the PTP epoch, from CLOCK_TAI (docs/domain-format.md §4.1), and
 * the exact index <-> timestamp conversions of upstream (docs/domain-format.md §4.2), including half-up rounding.
 * All arithmetic is BigInt so 128-bit intermediates are exact.
 */
import { addon } from '../native/index.js';
import { UNDEFINED_INDEX } from './layout.js';

export interface Rational {
  numerator: number;
  denominator: number;
}

const NS = 1_000_000_000n;
const u64 = (v: bigint) => BigInt.asUintN(64, v);

/** clock_gettime(CLOCK_TAI) in ns. */
export function taiNow(): bigint {
  return addon().clockTai();
}

/** round_half_up(ts × rate); UNDEFINED_INDEX for a rate with a zero term. */
export function timestampToIndex(ts: bigint, rate: Rational): bigint {
  const num = BigInt(rate.numerator);
  const den = BigInt(rate.denominator);
  if (num === 0n || den === 0n) return UNDEFINED_INDEX;
  return u64((ts * num + 500_000_000n * den) / (NS * den));
}

/**
 * round_half_up(index / rate) in ns. Like the C wrapper mxlIndexToTimestamp: an invalid
 * rate gives UNDEFINED_INDEX unless index is 0 (then 0).
 */
export function indexToTimestamp(index: bigint, rate: Rational): bigint {
  const num = BigInt(rate.numerator);
  const den = BigInt(rate.denominator);
  if (num === 0n || den === 0n) return index === 0n ? 0n : UNDEFINED_INDEX;
  const ts = u64((index * den * NS + num / 2n) / num);
  return ts === 0n && index !== 0n ? UNDEFINED_INDEX : ts;
}

/** mxlGetCurrentIndex: the index whose half-period window contains TAI now. */
export function currentIndex(rate: Rational, now: bigint = taiNow()): bigint {
  return timestampToIndex(now, rate);
}

/** mxlGetNsUntilIndex: max(0, ts(index) − now). */
export function nsUntilIndex(index: bigint, rate: Rational, now: bigint = taiNow()): bigint {
  const ts = indexToTimestamp(index, rate);
  return ts > now ? ts - now : 0n;
}

const gcd = (a: bigint, b: bigint): bigint => {
  while (b !== 0n) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
};

/** Reduces a rational by its gcd (upstream stores rates reduced). */
export function reduceRational(r: Rational): Rational {
  const g = gcd(BigInt(r.numerator), BigInt(r.denominator));
  if (g === 0n) return { ...r };
  return { numerator: Number(BigInt(r.numerator) / g), denominator: Number(BigInt(r.denominator) / g) };
}
