// The shipped alert rules, checked by promtool: syntax (check rules) and behaviour on
// made-up series (test rules): each alert fires on its fault and stays quiet when healthy.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RULES = fileURLToPath(new URL('../../../grafana/alerts.yml', import.meta.url));
const hasPromtool = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).status === 0;
const promtest = hasPromtool ? test : test.skip;
if (!hasPromtool) console.warn('promtool not found (Debian package prometheus): alert rule checks are skipped');

const TX = 'job="mxl-fabrics",instance="10.0.0.21:9464",role="initiator",endpoint="tx",provider="tcp",kind="video"';
const RX = 'job="mxl-fabrics",instance="10.0.0.11:9464",role="target",endpoint="rx-a",provider="tcp",kind="video"';

// interval 15s: "a+bxN" is a, a+b, ... (N+1 samples).
const UNIT_TESTS = `
rule_files:
  - ${RULES}
evaluation_interval: 15s
tests:
  - name: a target process killed, and an initiator's target lost
    interval: 15s
    input_series:
      - series: 'up{job="mxl-fabrics",instance="10.0.0.11:9464"}'
        values: '1 1 0 0 0 0 0 0'
      - series: 'up{job="mxl-fabrics",instance="10.0.0.12:9464"}'
        values: '1 1 1 1 1 1 1 1'
      - series: 'mxl_fabrics_peer_up{${TX},target_id="42"}'
        values: '1 1 1 0 0 0 0 0'
      - series: 'mxl_fabrics_peer_up{${TX},target_id="43"}'
        values: '1 1 1 1 1 1 1 1'
    alert_rule_test:
      - eval_time: 1m
        alertname: MxlFabricsTargetDown
        exp_alerts:
          - exp_labels: { severity: critical, job: mxl-fabrics, instance: "10.0.0.11:9464" }
            exp_annotations:
              summary: "mxl-fabrics target down (10.0.0.11:9464  )"
              description: "The process does not answer scrapes, or the initiator has lost the target."
      - eval_time: 105s
        alertname: MxlFabricsTargetDown
        exp_alerts:
          - exp_labels: { severity: critical, job: mxl-fabrics, instance: "10.0.0.11:9464" }
            exp_annotations:
              summary: "mxl-fabrics target down (10.0.0.11:9464  )"
              description: "The process does not answer scrapes, or the initiator has lost the target."
          - exp_labels: { severity: critical, job: mxl-fabrics, instance: "10.0.0.21:9464", endpoint: tx, target_id: "42" }
            exp_annotations:
              summary: "mxl-fabrics target down (10.0.0.21:9464 tx 42)"
              description: "The process does not answer scrapes, or the initiator has lost the target."
      - eval_time: 15s
        alertname: MxlFabricsTargetDown
        exp_alerts: []

  - name: an initiator connected but not moving; a moving one is quiet
    interval: 15s
    input_series:
      - series: 'mxl_fabrics_grains_total{${TX}}'
        values: '0+750x8 6000x12'
      - series: 'mxl_fabrics_sample_batches_total{${TX}}'
        values: '0x20'
      - series: 'mxl_fabrics_peers_connected{${TX}}'
        values: '1x20'
      - series: 'mxl_fabrics_grains_total{${TX.replace('"tx"', '"tx-ok"')}}'
        values: '0+750x20'
      - series: 'mxl_fabrics_sample_batches_total{${TX.replace('"tx"', '"tx-ok"')}}'
        values: '0x20'
      - series: 'mxl_fabrics_peers_connected{${TX.replace('"tx"', '"tx-ok"')}}'
        values: '1x20'
    alert_rule_test:
      - eval_time: 2m
        alertname: MxlFabricsInitiatorNotMoving
        exp_alerts: []
      - eval_time: 4m
        alertname: MxlFabricsInitiatorNotMoving
        exp_alerts:
          - exp_labels: { severity: warning, job: mxl-fabrics, instance: "10.0.0.21:9464", endpoint: tx }
            exp_annotations:
              summary: "mxl-fabrics initiator tx on 10.0.0.21:9464 is not moving"
              description: "Targets are connected but no transfer completed in the last minute."

  - name: an overrun is a torn-grain alert at once
    interval: 15s
    input_series:
      - series: 'mxl_fabrics_overruns_total{${TX}}'
        values: '0 0 0 1 1 1'
      - series: 'mxl_fabrics_torn_grains_prevented_total{${TX}}'
        values: '0 0 0 0 0 0'
    alert_rule_test:
      - eval_time: 30s
        alertname: MxlFabricsTornGrains
        exp_alerts: []
      - eval_time: 75s
        alertname: MxlFabricsTornGrains
        exp_alerts:
          - exp_labels: { severity: warning, job: mxl-fabrics, instance: "10.0.0.21:9464", endpoint: tx }
            exp_annotations:
              summary: "mxl-fabrics tx on 10.0.0.21:9464: torn grains"
              description: "Grains were overwritten in the source before their transfer completed: the sender is too slow for its ring."

  - name: lag over 5 grains for a minute
    interval: 15s
    input_series:
      - series: 'mxl_fabrics_flow_lag_grains{${RX}}'
        values: '1 1 8 8 8 8 8 8 8'
      - series: 'mxl_fabrics_flow_lag_grains{${RX.replace('"rx-a"', '"rx-b"')}}'
        values: '2 2 2 2 2 2 2 2 2'
    alert_rule_test:
      - eval_time: 60s
        alertname: MxlFabricsLagging
        exp_alerts: []
      - eval_time: 2m
        alertname: MxlFabricsLagging
        exp_alerts:
          - exp_labels: { severity: warning, job: mxl-fabrics, instance: "10.0.0.11:9464", role: target, endpoint: rx-a }
            exp_annotations:
              summary: "mxl-fabrics target rx-a on 10.0.0.11:9464 lags 8 grains"
              description: "The flow is more than 5 grains behind the clock."
`;

promtest('promtool check rules accepts grafana/alerts.yml', (t) => {
  const r = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
  t.is(r.status, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /SUCCESS: 4 rules found/);
});

promtest('promtool test rules: every alert fires on its fault and not when healthy', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mxlf-alerts-'));
  try {
    const file = path.join(dir, 'alerts-test.yml');
    fs.writeFileSync(file, UNIT_TESTS);
    const r = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
    t.is(r.status, 0, r.stdout + r.stderr);
    // The checker is live: a wrong expectation fails.
    fs.writeFileSync(file, UNIT_TESTS.replace('lags 8 grains', 'lags 9 grains'));
    t.not(spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' }).status, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

promtest('promtool check config accepts grafana/prometheus.yml (file-based discovery, rule file)', (t) => {
  const r = spawnSync('promtool', ['check', 'config', fileURLToPath(new URL('../../../grafana/prometheus.yml', import.meta.url))], { encoding: 'utf8' });
  t.is(r.status, 0, r.stdout + r.stderr);
});
