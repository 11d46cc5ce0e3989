/**
 * The one option lookup of the bench scripts: the word after `key` in `argv`; `fallback`
 * when `key` is absent (a `key` given last, with no word after it, reads as undefined).
 */
export function option(argv: readonly string[], key: string): string | undefined;
export function option(argv: readonly string[], key: string, fallback: string): string;
export function option(argv: readonly string[], key: string, fallback?: string): string | undefined {
  const i = argv.indexOf(key);
  return i < 0 ? fallback : argv[i + 1];
}
