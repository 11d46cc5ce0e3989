/**
 * Per-provider libfabric configuration (docs/protocol.md §2.2): the hints upstream builds for a
 * target or an initiator, and the filter that decides whether an fi_info is usable.
 * Data + functions, so verbs/efa hints can be checked without their hardware.
 */
import { FabricsError } from '../errors.js';
import { addon } from '../native/index.js';
import { AddrFormat } from './address.js';
import { Provider, providerToString } from './provider.js';

const k = () => addon().constants;

/**
 * The libfabric bits this engine uses, read from the addon (which takes them from
 * fabric.h at build time); caps/flags as bigint, mr_mode and ep_type as numbers, like the
 * fi_info fields they are compared with. Getters, so importing this module does not load
 * the addon.
 */
export const FI = {
  get MSG() { return k().FI_MSG; },
  get RMA() { return k().FI_RMA; },
  get TAGGED() { return k().FI_TAGGED; },
  get READ() { return k().FI_READ; },
  get WRITE() { return k().FI_WRITE; },
  get RECV() { return k().FI_RECV; },
  get SEND() { return k().FI_SEND; },
  get TRANSMIT() { return k().FI_TRANSMIT; },
  get REMOTE_READ() { return k().FI_REMOTE_READ; },
  get REMOTE_WRITE() { return k().FI_REMOTE_WRITE; },
  get REMOTE_CQ_DATA() { return k().FI_REMOTE_CQ_DATA; },
  get DELIVERY_COMPLETE() { return k().FI_DELIVERY_COMPLETE; },
  get HMEM() { return k().FI_HMEM; },
  get RX_CQ_DATA() { return k().FI_RX_CQ_DATA; },
  get MR_LOCAL() { return Number(k().FI_MR_LOCAL); },
  get MR_VIRT_ADDR() { return Number(k().FI_MR_VIRT_ADDR); },
  get MR_ALLOCATED() { return Number(k().FI_MR_ALLOCATED); },
  get MR_PROV_KEY() { return Number(k().FI_MR_PROV_KEY); },
  get EP_MSG() { return Number(k().FI_EP_MSG); },
  get EP_RDM() { return Number(k().FI_EP_RDM); },
};

/** The mr_mode bits upstream offers in every fi_getinfo hint (setup and discovery). */
export const mrModeHint = (): number => FI.MR_VIRT_ADDR | FI.MR_LOCAL | FI.MR_ALLOCATED | FI.MR_PROV_KEY;

/**
 * Every endpoint binds its completion queue for both directions, even a write-only
 * initiator or a receive-only target: libfabric 1.17's tcp provider dereferences the
 * missing one (upstream binds one direction; it targets libfabric 2.x).
 */
export const cqBindFlags = (): bigint => FI.TRANSMIT | FI.RECV;

/** Capability flags of mxlFabricsInterfaceCapFlags. */
export const InterfaceCaps = { BLOCKING_OPERATIONS: 1, REMOTE_WRITE: 2, SEND_RECEIVE: 4 } as const;

export interface ProviderConfig {
  provider: Provider;
  /** libfabric's name of the provider: the same as ours. */
  provName: string;
  epType: number;
  addrFormats: readonly number[];
  /** fi_tostr name of ep_attr->protocol (enum values are not stable across libfabric releases). */
  protocol: string;
  requiredCaps: bigint;
  rejectedCaps: bigint;
}

let configs: Readonly<Record<number, ProviderConfig>> | undefined;
/** Built on first use: the table reads libfabric bits from the addon. */
const table = (): Readonly<Record<number, ProviderConfig>> => (configs ??= {
  [Provider.Tcp]: { provider: Provider.Tcp, provName: providerToString(Provider.Tcp), epType: FI.EP_MSG, addrFormats: [AddrFormat.FI_SOCKADDR_IN, AddrFormat.FI_SOCKADDR_IN6], protocol: 'FI_PROTO_SOCK_TCP', requiredCaps: FI.MSG, rejectedCaps: FI.TAGGED },
  [Provider.Verbs]: { provider: Provider.Verbs, provName: providerToString(Provider.Verbs), epType: FI.EP_MSG, addrFormats: [AddrFormat.FI_SOCKADDR_IN, AddrFormat.FI_SOCKADDR_IN6], protocol: 'FI_PROTO_RDMA_CM_IB_RC', requiredCaps: FI.MSG, rejectedCaps: FI.HMEM },
  [Provider.Shm]: { provider: Provider.Shm, provName: providerToString(Provider.Shm), epType: FI.EP_RDM, addrFormats: [AddrFormat.FI_ADDR_STR], protocol: 'FI_PROTO_SHM', requiredCaps: 0n, rejectedCaps: FI.HMEM },
  [Provider.Efa]: { provider: Provider.Efa, provName: providerToString(Provider.Efa), epType: FI.EP_RDM, addrFormats: [AddrFormat.FI_ADDR_EFA], protocol: 'FI_PROTO_EFA', requiredCaps: 0n, rejectedCaps: FI.HMEM | FI.TAGGED },
});

export function providerConfig(p: Provider): ProviderConfig {
  const c = table()[p];
  if (!c) {
    if (p === Provider.Any) throw new FabricsError('MXL_ERR_INVALID_STATE', 'provider "any" cannot be set up: choose tcp, verbs, efa or shm (see `mxl-fabrics info`)', { field: 'provider' });
    throw new FabricsError('MXL_ERR_INVALID_ARG', `unknown provider value ${p}`, { field: 'provider' });
  }
  return c;
}

export type Role = 'target' | 'initiator';

export interface Hints {
  provider: string;
  epType: number;
  caps: bigint;
  mode: bigint;
  mrMode: number;
  addrFormat?: number;
  node?: string;
  service?: string;
  source: boolean;
}

/** The hints upstream passes to fi_getinfo for one side (docs/protocol.md §2.2, §2.3). */
export function buildHints(p: Provider, role: Role, caps: number, endpoint: { node?: string; service?: string } = {}): Hints {
  const cfg = providerConfig(p);
  let c = role === 'target' ? FI.REMOTE_WRITE | FI.RMA : FI.WRITE | FI.RMA;
  if (caps & InterfaceCaps.SEND_RECEIVE) c |= FI.SEND | FI.RECV;
  const addr = parseEndpointAddress(p, endpoint.node, endpoint.service);
  const h: Hints = {
    provider: cfg.provName,
    epType: cfg.epType,
    caps: c,
    mode: 0n,
    mrMode: mrModeHint(),
    // FI_SOURCE only with a local address: libfabric 1.17's tcp returns nothing for FI_SOURCE without a node.
    source: addr.node !== undefined,
  };
  if (addr.node !== undefined) h.node = addr.node;
  if (addr.service !== undefined) h.service = addr.service;
  if (addr.addrFormat !== undefined) h.addrFormat = addr.addrFormat;
  return h;
}

/** Validates the requested capabilities like upstream's setup path (docs/protocol.md §2.3 steps 1-2). */
export function checkSetupCaps(caps: number): void {
  if (!(caps & (InterfaceCaps.REMOTE_WRITE | InterfaceCaps.SEND_RECEIVE))) {
    throw new FabricsError('MXL_ERR_INVALID_ARG', 'capabilities must include REMOTE_WRITE (send/receive alone is not implemented)', { field: 'caps' });
  }
  if (!(caps & InterfaceCaps.REMOTE_WRITE)) {
    throw new FabricsError('MXL_ERR_NO_FABRIC', 'only remote-write interfaces are implemented; SEND_RECEIVE-only was requested', { field: 'caps' });
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:.]+$/;

/** Parses node/service per provider (docs/protocol.md §2.3 step 3); throws MXL_ERR_INVALID_ARG with the field. */
export function parseEndpointAddress(p: Provider, node?: string, service?: string): { node?: string; service?: string; addrFormat?: number } {
  const name = providerToString(p);
  if (node === undefined || node === '') {
    if (service !== undefined && service !== '') throw new FabricsError('MXL_ERR_INVALID_ARG', `a service (${service}) needs a node`, { field: 'service' });
    return {};
  }
  switch (p) {
    case Provider.Shm:
      return service ? { node, service } : { node };
    case Provider.Tcp:
    case Provider.Verbs: {
      const v6 = node.includes(':');
      if (v6 ? !IPV6.test(node) : !IPV4.test(node)) {
        throw new FabricsError('MXL_ERR_INVALID_ARG', `${name} needs a numeric IP address as node, got ${JSON.stringify(node)}`, { field: 'node' });
      }
      if (service !== undefined && service !== '' && !/^\d{1,5}$/.test(service)) {
        throw new FabricsError('MXL_ERR_INVALID_ARG', `service must be a port number, got ${JSON.stringify(service)}`, { field: 'service' });
      }
      if (service !== undefined && Number(service) > 65535) throw new FabricsError('MXL_ERR_INVALID_ARG', `port ${service} is out of range`, { field: 'service' });
      return { node, service: service || undefined, addrFormat: v6 ? AddrFormat.FI_SOCKADDR_IN6 : AddrFormat.FI_SOCKADDR_IN };
    }
    case Provider.Efa:
      if (!node.includes(':') || !IPV6.test(node)) throw new FabricsError('MXL_ERR_INVALID_ARG', `efa needs the device GID (an IPv6 literal) as node, got ${JSON.stringify(node)}`, { field: 'node' });
      return { node };
    default:
      return { node, service };
  }
}

/** Whether an fi_info is usable for this provider (the docs/protocol.md §2.2 filter). */
export function acceptsInfo(cfg: ProviderConfig, info: { epType?: number; protocolName?: string; addrFormat: number; caps: bigint }, discovery: boolean): boolean {
  if (info.epType !== cfg.epType) return false;
  if (info.protocolName !== cfg.protocol) return false;
  if (!cfg.addrFormats.includes(info.addrFormat)) return false;
  if (info.caps & cfg.rejectedCaps) return false;
  if (discovery && (info.caps & cfg.requiredCaps) !== cfg.requiredCaps) return false;
  return true;
}
