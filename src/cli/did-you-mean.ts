/** "did you mean" for a mistyped command: the closest name within two edits, or a unique prefix. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

export function didYouMean(input: string, names: readonly string[]): string | undefined {
  const s = input.toLowerCase();
  const prefixed = names.filter((n) => n.startsWith(s));
  if (s.length >= 2 && prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestD = 3;
  for (const n of names) {
    const d = distance(s, n);
    if (d < bestD) { best = n; bestD = d; }
  }
  return best;
}
