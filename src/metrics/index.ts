/** Metrics layer: stats SABs written by endpoint workers, a prom-client exporter reading them. */
export * from './endpoint-stats.js';
export * from './exporter.js';
export * from './endpoint-faults.js';
export * from './slice-ledger.js';
