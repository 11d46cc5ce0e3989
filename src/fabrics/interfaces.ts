/**
 * Interface discovery, the equivalent of mxlFabricsGetInterfaces (docs/protocol.md §2.5): every
 * (provider, node) usable for remote write, with capability flags and attributes.
 *
 * Deliberate difference: upstream makes one unhinted fi_getinfo call. On libfabric 1.x
 * that call names the tcp provider "net", so we ask each provider by name instead.
 */
import os from 'node:os';
import { addon } from '../native/index.js';
import type { NativeInfo } from '../native/fabric.js';
import { hostOf } from './address.js';
import { FABRIC_PROVIDERS, Provider, providerToString, type ProviderName, toProvider } from './provider.js';
import { FI, InterfaceCaps, mrModeHint, providerConfig, acceptsInfo } from './provider-config.js';

export interface FabricInterface {
  /** e.g. `tcp-0` */
  name: string;
  provider: ProviderName;
  caps: { flags: number; maxMessageSize: bigint };
  address: { node: string; service: string };
  /** Device name (Linux interface for tcp). */
  device: string;
  attr: Record<string, string | number>;
}

export interface InterfaceQuery {
  provider?: Provider | ProviderName | string;
  node?: string;
}

function attrOf(info: NativeInfo): Record<string, string | number> {
  const a: Record<string, string | number> = {};
  if (info.addrFormatName) a.ep_addr_format = info.addrFormatName;
  if (info.protocolName) a.ep_protocol = info.protocolName;
  if (info.epTypeName) a.ep_type = info.epTypeName;
  if (info.domainName) a.fi_domain_name = info.domainName;
  if (info.cqCount !== undefined) a.fi_domain_cq_cnt = info.cqCount;
  if (info.epCount !== undefined) a.fi_domain_ep_cnt = info.epCount;
  if (info.mrCount !== undefined) a.fi_domain_mr_cnt = info.mrCount;
  const n = info.nic;
  if (n) {
    if (n.deviceName) a.device_name = n.deviceName;
    if (n.deviceId) a.device_id = n.deviceId;
    if (n.vendorId) a.device_vendor_id = n.vendorId;
    if (n.deviceVersion) a.device_version = n.deviceVersion;
    if (n.driver) a.device_driver = n.driver;
    if (n.firmware) a.device_firmware = n.firmware;
    if (n.linkState) a.link_state = n.linkState;
    if (n.linkSpeed) a.link_speed = n.linkSpeed;
    if (n.linkAddress) a.link_address = n.linkAddress;
    if (n.linkType) a.link_type = n.linkType;
    if (n.pciDomainId !== undefined) {
      a.pci_domain_id = n.pciDomainId;
      a.pci_bus_id = n.pciBusId ?? 0;
      a.pci_device_id = n.pciDeviceId ?? 0;
      a.pci_function_id = n.pciFunctionId ?? 0;
    }
  }
  if (info.provider === 'tcp' && info.domainName) a.device_name = info.domainName;
  return a;
}

function capsOf(p: Provider, info: NativeInfo, fabricVersion: string): number {
  let f = 0;
  if (info.caps & (FI.SEND | FI.RECV)) f |= InterfaceCaps.SEND_RECEIVE;
  if (info.caps & (FI.REMOTE_WRITE | FI.WRITE | FI.RMA)) f |= InterfaceCaps.REMOTE_WRITE;
  const [maj, min] = fabricVersion.split('.').map(Number);
  const efaNoWait = p === Provider.Efa && (maj < 2 || (maj === 2 && min < 4));
  if (!efaNoWait) f |= InterfaceCaps.BLOCKING_OPERATIONS;
  return f;
}

/** Lists interfaces usable for remote writes, optionally filtered by provider and node. */
export function getInterfaces(query: InterfaceQuery = {}): FabricInterface[] {
  const a = addon();
  const version = a.fabricVersion();
  const want = query.provider === undefined ? Provider.Any : toProvider(query.provider);
  const hostname = os.hostname();
  const out: FabricInterface[] = [];
  for (const p of FABRIC_PROVIDERS) {
    if (want !== Provider.Any && want !== p) continue;
    const cfg = providerConfig(p);
    let infos: NativeInfo[];
    try {
      infos = a.getInfo({ provider: cfg.provName, epType: cfg.epType, caps: FI.RMA | FI.WRITE | FI.REMOTE_WRITE | cfg.requiredCaps, mrMode: mrModeHint() });
    } catch {
      continue; // provider absent or unusable on this host
    }
    let n = 0;
    const seen = new Set<string>();
    for (const info of infos) {
      if (info.provider !== cfg.provName || !acceptsInfo(cfg, info, true)) continue;
      const node = p === Provider.Shm ? hostname : hostOf(info.addrFormat, info.srcAddr);
      if (node === undefined) continue;
      if (query.node !== undefined && query.node !== node) continue;
      const key = `${node}|${info.domainName}`;
      if (seen.has(key)) continue; // one entry per provider and address
      seen.add(key);
      const attr = attrOf(info);
      out.push({
        name: `${providerToString(p)}-${n++}`,
        provider: providerToString(p),
        caps: { flags: capsOf(p, info, version), maxMessageSize: info.maxMsgSize ?? 0n },
        address: { node, service: '' },
        device: String(attr.device_name ?? info.domainName ?? ''),
        attr,
      });
    }
  }
  return out;
}

export function capsToStrings(flags: number): string[] {
  const s: string[] = [];
  if (flags & InterfaceCaps.REMOTE_WRITE) s.push('REMOTE_WRITE');
  if (flags & InterfaceCaps.SEND_RECEIVE) s.push('SEND_RECEIVE');
  if (flags & InterfaceCaps.BLOCKING_OPERATIONS) s.push('BLOCKING_OPERATIONS');
  return s;
}
