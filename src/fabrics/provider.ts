/** Provider enum and its strings, exactly as upstream's mxlFabricsProvider (docs/protocol.md §1.1). */
import { FabricsError } from '../errors.js';

export const Provider = { Any: 0, Tcp: 1, Verbs: 2, Efa: 3, Shm: 4 } as const;
export type Provider = (typeof Provider)[keyof typeof Provider];
export type ProviderName = 'any' | 'tcp' | 'verbs' | 'efa' | 'shm';

const NAMES: readonly ProviderName[] = ['any', 'tcp', 'verbs', 'efa', 'shm'];
/** The providers a target or initiator can be set up with (all but 'any'), in enum order. */
export const FABRIC_PROVIDERS: readonly Provider[] = [Provider.Tcp, Provider.Verbs, Provider.Efa, Provider.Shm];
export const FABRIC_PROVIDER_NAMES: readonly ProviderName[] = NAMES.slice(1);

/** Exact, case-sensitive, like mxlFabricsProviderFromString. */
export function providerFromString(s: string): Provider {
  const i = NAMES.indexOf(s as ProviderName);
  if (i < 0) {
    throw new FabricsError('MXL_ERR_INVALID_ARG', `unknown provider ${JSON.stringify(s)}: use one of ${NAMES.join(', ')}`, { field: 'provider' });
  }
  return i as Provider;
}

export function providerToString(p: Provider | number): ProviderName {
  const n = NAMES[p as number];
  if (n === undefined) throw new FabricsError('MXL_ERR_INVALID_ARG', `unknown provider value ${p}`, { field: 'provider' });
  return n;
}

/** Accepts an enum value or a name. */
export function toProvider(p: Provider | ProviderName | string | number): Provider {
  return typeof p === 'number' ? (providerFromString(providerToString(p)), p as Provider) : providerFromString(p);
}

