/**
 * The HTTP listeners of `target` and `initiator` (--metrics, --info-http): parsed with the
 * flags (exit 2) and bound before any endpoint is set up, so a busy port is a one-line
 * FabricsError (exit 1) before anything else happens.
 */
import { FabricsError } from '../errors.js';
import type { Fabrics } from '../runtime/coordinator.js';
import type { MetricsServer } from '../metrics/exporter.js';
import { UsageError } from './exit-codes.js';
import { parseHostPort } from './endpoint-options.js';

/** `--FLAG HOST:PORT` with the flag named in the message. */
export function parseListenFlag(cmd: string, flag: string, s: string): { host: string; port: number } {
  try {
    return parseHostPort(cmd, s);
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(e.message.replace('--metrics', flag));
    throw e;
  }
}

/** Starts /metrics; a port in use or an address this host lacks is a FabricsError naming it. */
export async function serveMetricsChecked(cmd: string, fx: Fabrics, at: { host: string; port: number }): Promise<MetricsServer> {
  try {
    return await fx.serveMetrics(at.host, at.port);
  } catch (e) {
    if (e instanceof FabricsError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const where = `${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}`;
    const why = code === 'EADDRINUSE' ? 'the port is in use: pick another one, or 0 for any free port' : code === 'EADDRNOTAVAIL' ? 'this host has no such address' : (e as Error).message;
    throw new FabricsError(code === 'EADDRINUSE' ? 'MXL_ERR_CONFLICT' : code === 'EACCES' ? 'MXL_ERR_PERMISSION_DENIED' : 'MXL_ERR_INVALID_ARG',
      `${cmd}: --metrics cannot listen on ${where} (${code ?? 'error'}): ${why}`, { field: 'metrics', op: 'listen', cause: e });
  }
}
