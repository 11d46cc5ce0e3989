/**
 * server.listen as a promise whose failures are FabricsErrors: a busy port, an address
 * this host does not have, or a privileged port are the operator's to fix (exit 1).
 */
import type { Server } from 'node:net';
import { FabricsError } from '../errors.js';

export function listenTyped(server: Server, host: string, port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      const why = e.code === 'EADDRINUSE' ? 'the port is in use: pick another one, or 0 for any free port'
        : e.code === 'EADDRNOTAVAIL' ? 'this host has no such address'
          : e.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)' : e.message;
      reject(new FabricsError(e.code === 'EADDRINUSE' ? 'MXL_ERR_CONFLICT' : e.code === 'EACCES' ? 'MXL_ERR_PERMISSION_DENIED' : 'MXL_ERR_INVALID_ARG',
        `${what}: cannot listen on ${where} (${e.code ?? 'error'}): ${why}`, { field: 'address', op: 'listen', cause: e }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
