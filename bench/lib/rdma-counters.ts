/**
 * Whether RDMA writes were really offloaded: the sum of every `rdma_write_bytes` hardware
 * counter under /sys/class/infiniband (EFA exposes it). libfabric emulates writes silently
 * on devices without them, so the counter must rise during the run.
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = '/sys/class/infiniband';

/** Sum of rdma_write_bytes over every device and port; null when no such counter exists. */
export function rdmaWriteBytes(root = ROOT): number | null {
  let sum = 0;
  let found = false;
  try {
    for (const dev of fs.readdirSync(root)) {
      const ports = path.join(root, dev, 'ports');
      for (const port of fs.existsSync(ports) ? fs.readdirSync(ports) : []) {
        const f = path.join(ports, port, 'hw_counters', 'rdma_write_bytes');
        if (!fs.existsSync(f)) continue;
        sum += Number(fs.readFileSync(f, 'utf8').trim());
        found = true;
      }
    }
  } catch {
    return null;
  }
  return found ? sum : null;
}

/** offloaded true/false from two readings, 'unknown' when the counter is absent. */
export function offloadVerdict(before: number | null, after: number | null, bytesSent: number): { offloaded: boolean | 'unknown'; rdmaWriteBytes: number | null } {
  if (before === null || after === null) return { offloaded: 'unknown', rdmaWriteBytes: null };
  const delta = after - before;
  return { offloaded: bytesSent > 0 && delta >= bytesSent / 2, rdmaWriteBytes: delta };
}
