/**
 * Serves a target's current TargetInfo over HTTP, so that initiators can fetch it again
 * after the target restarts (docs/sessions.md):
 *   GET /targetinfo                 upstream's raw JSON (application/json)
 *   GET /targetinfo?format=base64   the base64 form the target logs after "Target info:"
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TargetInfo } from '../fabrics/target-info.js';
import { listenTyped } from '../util/listen.js';

export const TARGET_INFO_PATH = '/targetinfo';

export class TargetInfoServer {
  private text?: string;
  private b64?: string;
  private constructor(private readonly server: Server, readonly url: string) {}

  /**
   * Listens at http://host:port/targetinfo (port 0 picks one) and serves `info` (TargetInfo
   * JSON) once given here or by update(); 503 until then. Listening can thus come before the
   * endpoint is set up, so a busy port fails first.
   */
  static async start(host: string, port: number, info?: string): Promise<TargetInfoServer> {
    let self: TargetInfoServer | undefined;
    const server = createServer((req, res) => self?.handle(req, res));
    await listenTyped(server, host, port, 'TargetInfo server (--info-http)');
    const actual = (server.address() as AddressInfo).port;
    self = new TargetInfoServer(server, `http://${host.includes(':') ? `[${host}]` : host}:${actual}${TARGET_INFO_PATH}`);
    if (info !== undefined) self.update(info);
    return self;
  }

  /** Replaces what is served (a target that set up a new endpoint). */
  update(info: string): void {
    this.b64 = TargetInfo.parse(info).toBase64();
    this.text = info;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== TARGET_INFO_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found; the TargetInfo is at ${TARGET_INFO_PATH}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('GET only\n');
      return;
    }
    const format = url.searchParams.get('format') ?? 'json';
    if (format !== 'json' && format !== 'base64') {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end('format is json (default) or base64\n');
      return;
    }
    if (this.text === undefined || this.b64 === undefined) {
      res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain; charset=utf-8' }).end('the target is still setting up\n');
      return;
    }
    const body = format === 'json' ? this.text : this.b64;
    res.writeHead(200, {
      'content-type': format === 'json' ? 'application/json' : 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    }).end(req.method === 'HEAD' ? undefined : body);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
