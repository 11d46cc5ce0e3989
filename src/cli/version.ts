/** The package version, read from the package.json next to build/ (the CLI's --version). */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

export function packageVersion(): string {
  const file = fileURLToPath(new URL('../../../package.json', import.meta.url)); // build/src/cli -> root
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}
