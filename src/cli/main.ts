/**
 * mxl-fabrics command line. Each command lives in its own module (listed in commands.ts);
 * errors print as one line that says what to do (a stack trace only with --verbose /
 * MXL_FABRICS_DEBUG=1).
 */
import './process-guards.js'; // first: early signals and EPIPE on stdout/stderr
import { FabricsError } from '../errors.js';
import { COMMANDS } from './commands.js';
import { didYouMean } from './did-you-mean.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { packageVersion } from './version.js';

export function usage(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'usage: mxl-fabrics <command> [options]   (mxl-fabrics <command> --help for its options)',
    '',
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(w)}  ${c.summary}`),
    '',
    '  --version  the package version',
    '',
    'exit codes: 0 ok, 1 failure, 2 usage error, 3 addon or libfabric missing, 130 interrupted',
  ].join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  const verbose = rest.includes('--verbose') || process.env.MXL_FABRICS_DEBUG === '1';
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    process.exitCode = name ? ExitCode.OK : ExitCode.USAGE;
    return;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    console.log(packageVersion());
    process.exitCode = ExitCode.OK;
    return;
  }
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!cmd) {
    const guess = didYouMean(name, Object.keys(COMMANDS));
    console.error(`mxl-fabrics: unknown command ${JSON.stringify(name)}${guess ? `: did you mean \`mxl-fabrics ${guess}\`?` : ''}\n${usage()}`);
    process.exitCode = ExitCode.USAGE;
    return;
  }
  try {
    process.exitCode = await cmd.run(rest);
  } catch (e) {
    process.exitCode = reportError(e, verbose);
  }
}

/** Prints one actionable line and returns the exit code. */
export function reportError(e: unknown, verbose: boolean): number {
  const err = e as Error & { code?: string };
  const usageLike = e instanceof UsageError || (err?.code ?? '').startsWith('ERR_PARSE_ARGS');
  if (verbose && err?.stack) console.error(err.stack);
  if (usageLike) {
    console.error(`mxl-fabrics: ${err.message} (see --help)`);
    return ExitCode.USAGE;
  }
  if (e instanceof FabricsError) {
    console.error(`mxl-fabrics: ${e.message} [${e.code}]`);
    return e.code === 'ERR_MXL_ADDON_LOAD' ? ExitCode.SETUP : ExitCode.FAILURE;
  }
  console.error(`mxl-fabrics: ${err?.message ?? String(e)}`);
  return ExitCode.FAILURE;
}
