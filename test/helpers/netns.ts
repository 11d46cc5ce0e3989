/**
 * Two test hosts on one machine: two network namespaces joined by a veth pair, with private
 * addresses that exist only inside them. Made when called (at file load, so a test can be
 * registered as skipped with the reason where namespaces cannot be made) and removed by
 * remove() (call it from test.after.always).
 */
import { execFileSync } from 'node:child_process';

export const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export interface HostPair {
  /** Namespace of host 1 and host 2; their veth ends; their addresses. */
  ns1: string; ns2: string; v1: string; v2: string; a1: string; a2: string;
  /** Why the pair could not be made (then nothing was created), or undefined. */
  skip?: string;
  remove(): void;
}

/** `tag` keeps the names of different test files apart; `subnet` is the /24's third octet. */
export function makeHostPair(tag: string, subnet: number): HostPair {
  const pid = process.pid;
  const pair: HostPair = {
    ns1: `${tag}1-${pid}`, ns2: `${tag}2-${pid}`,
    v1: `${tag}v1-${pid}`.slice(0, 15), v2: `${tag}v2-${pid}`.slice(0, 15),
    a1: `10.213.${subnet}.1`, a2: `10.213.${subnet}.2`,
    remove: () => undefined,
  };
  try {
    ip('netns', 'add', pair.ns1);
  } catch (e) {
    pair.skip = `cannot create a network namespace (ip netns add ${pair.ns1}: ${String((e as { stderr?: string }).stderr ?? e).trim()}); needs root/CAP_SYS_ADMIN`;
    return pair;
  }
  pair.remove = () => {
    for (const ns of [pair.ns1, pair.ns2]) { try { ip('netns', 'del', ns); } catch { /* already gone */ } }
  };
  ip('netns', 'add', pair.ns2);
  ip('link', 'add', pair.v1, 'type', 'veth', 'peer', 'name', pair.v2);
  ip('link', 'set', pair.v1, 'netns', pair.ns1);
  ip('link', 'set', pair.v2, 'netns', pair.ns2);
  for (const [ns, dev, addr] of [[pair.ns1, pair.v1, pair.a1], [pair.ns2, pair.v2, pair.a2]]) {
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
    ip('-n', ns, 'link', 'set', dev, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  return pair;
}
