/**
 * Opens the libfabric fabric and domain for one side (docs/protocol.md §2.3): builds the
 * provider's hints, asks fi_getinfo with FI_SOURCE, keeps the first entry that the
 * provider's table accepts (upstream takes the first entry unfiltered, docs/protocol.md §8 item 16),
 * and checks the capability the side needs.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FabricsError } from '../errors.js';
import { addon } from '../native/index.js';
import type { NativeDomain, NativeFabricObj, NativeInfo } from '../native/fabric.js';
import { Provider, type ProviderName, providerToString, toProvider } from './provider.js';
import { FI, InterfaceCaps, type ProviderConfig, type Role, acceptsInfo, buildHints, checkSetupCaps, providerConfig } from './provider-config.js';

export interface EndpointOptions {
  provider: Provider | ProviderName;
  /** Local address: an IP for tcp/verbs, the GID for efa, a name for shm. */
  node?: string;
  /** Local port (tcp/verbs) or name suffix (shm). */
  service?: string;
  /** mxlFabricsInterfaceCapFlags; REMOTE_WRITE is implied. */
  caps?: number;
}

export interface OpenedFabric {
  provider: Provider;
  providerName: ProviderName;
  config: ProviderConfig;
  info: NativeInfo;
  fabric: NativeFabricObj;
  domain: NativeDomain;
  /** Remote addresses are virtual addresses (FI_MR_VIRT_ADDR), not offsets. */
  virtAddr: boolean;
  /** The provider needs posted receives for write-with-immediate (FI_RX_CQ_DATA, verbs). */
  rxCqData: boolean;
  /**
   * Blocking CQ reads (fi_cq_sread) wake up reliably. Not with manual data progress (shm,
   * efa): nothing moves the data while the caller sleeps, and libfabric 1.17's shm sread
   * was seen to sleep past its timeout. Those providers poll with short pauses instead.
   */
  cqWaitable: boolean;
  /**
   * fi_info for one more endpoint of this side. shm endpoints are named, so each gets its
   * own name (`<node>-<suffix>`); other providers reuse the opened info.
   */
  endpointInfo(suffix: string): NativeInfo;
}

const FI_PROGRESS_MANUAL = 2;

let shmNameCounter = 0;
let swept = false;

/**
 * libfabric's shm provider keeps a /dev/shm region named after each endpoint; a process
 * that was killed leaves its regions behind. Once per process, remove the ones that carry
 * our generated prefix and the pid of a process that no longer exists.
 */
function sweepStaleShmRegions(): void {
  if (swept) return;
  swept = true;
  let names: string[];
  try {
    names = fs.readdirSync('/dev/shm');
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^mxlf-(\d+)-/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') fs.rmSync(path.join('/dev/shm', name), { force: true });
    }
  }
}

export function openFabric(opts: EndpointOptions, role: Role): OpenedFabric {
  const provider = toProvider(opts.provider);
  const caps = opts.caps ?? InterfaceCaps.REMOTE_WRITE | InterfaceCaps.BLOCKING_OPERATIONS;
  checkSetupCaps(caps);
  const config = providerConfig(provider);
  let { node, service } = opts;
  // shm endpoints are named; give each unnamed one a unique name in this host.
  if (provider === Provider.Shm && !node) {
    sweepStaleShmRegions();
    node = `mxlf-${process.pid}-${++shmNameCounter}-${randomBytes(3).toString('hex')}`;
    service = undefined;
  }
  const hints = buildHints(provider, role, caps, { node, service });
  const a = addon();
  const infos = a.getInfo(hints).filter((i) => i.provider === config.provName && acceptsInfo(config, i, false));
  const where = `${config.provName}${node ? ` on ${node}${service ? `:${service}` : ''}` : ''}`;
  if (infos.length === 0) {
    throw new FabricsError('MXL_ERR_NO_FABRIC', `no ${role} interface for ${where}: check the provider and address with \`mxl-fabrics info\``, { op: 'fi_getinfo' });
  }
  const info = infos[0];
  const need = role === 'target' ? FI.REMOTE_WRITE : FI.WRITE;
  if (!(info.caps & need)) {
    throw new FabricsError('MXL_ERR_UNSUPPORTED_OPERATION', `${where} does not support ${role === 'target' ? 'remote writes' : 'RMA writes'}`);
  }
  const fabric = new a.Fabric(info);
  let domain: NativeDomain;
  try {
    domain = new a.Domain(fabric, info);
  } catch (e) {
    fabric.close();
    throw e;
  }
  const mrMode = info.mrMode ?? 0;
  return {
    provider,
    providerName: providerToString(provider),
    config,
    info,
    fabric,
    domain,
    virtAddr: (mrMode & FI.MR_VIRT_ADDR) !== 0,
    rxCqData: ((info.rxMode ?? 0n) & FI.RX_CQ_DATA) !== 0n,
    cqWaitable: info.dataProgress !== FI_PROGRESS_MANUAL,
    endpointInfo: (suffix) => {
      if (provider !== Provider.Shm) return info;
      const more = a.getInfo(buildHints(provider, role, caps, { node: `${node}-${suffix}` })).filter((i) => i.provider === config.provName && acceptsInfo(config, i, false));
      if (more.length === 0) throw new FabricsError('MXL_ERR_NO_FABRIC', `no ${role} interface for ${config.provName} on ${node}-${suffix}`, { op: 'fi_getinfo' });
      return more[0];
    },
  };
}

/** Random requested key for providers that do not pick their own (no FI_MR_PROV_KEY). */
export const randomKey = (): bigint => randomBytes(8).readBigUInt64LE(0) >> 1n;

/**
 * Turns a failure to bind a local address (fi_passive_ep/fi_listen/fi_endpoint) into an
 * error that says what to fix: EADDRINUSE -> MXL_ERR_EXISTS, EADDRNOTAVAIL ->
 * MXL_ERR_NO_FABRIC (no local interface has that address).
 */
export function bindError(e: unknown, opts: { node?: string; service?: string }): unknown {
  const err = e as FabricsError;
  if (!(err instanceof FabricsError)) return e;
  const where = `${opts.node ?? 'any address'}${opts.service ? `:${opts.service}` : ''}`;
  if (err.fiErrno === 98 || err.code === 'MXL_ERR_EXISTS' || /in use/i.test(err.message)) {
    return new FabricsError('MXL_ERR_EXISTS', `cannot listen on ${where}: the address is already in use; choose another service (port) or leave it empty for an ephemeral one`, { op: err.op, fiErrno: err.fiErrno, cause: e });
  }
  if (err.fiErrno === 99) {
    return new FabricsError('MXL_ERR_NO_FABRIC', `no local interface has the address ${opts.node}: give the node of one of this host's interfaces (see \`mxl-fabrics info\`)`, { op: err.op, fiErrno: err.fiErrno, field: 'node', cause: e });
  }
  return e;
}
