// The layers of src/ form a DAG: no top-level folder imports a folder that (transitively)
// imports it back. Files directly in src/ (errors.ts, index.ts) are nodes of their own.
// Also pins the thread split: runtime/ (main thread) and workers/ (worker threads) never
// import each other; what both use lives in ipc/.
import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const srcRoot = fileURLToPath(new URL('../../../src/', import.meta.url));

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** Node of a file: its top-level folder under src/, or the file name for files in src/ itself. */
function nodeOf(file: string): string {
  const [head, ...rest] = path.relative(srcRoot, file).split(path.sep);
  return rest.length === 0 ? head.replace(/\.(ts|js)$/, '') : head;
}

function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of tsFiles(srcRoot)) {
    const from = nodeOf(file);
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.{1,2}\/[^']+)'/gms)) {
      const to = nodeOf(path.resolve(path.dirname(file), m[1]));
      if (to !== from) edges.add(to);
    }
  }
  return graph;
}

function findCycle(graph: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'open') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'open');
    stack.push(n);
    for (const next of graph.get(n) ?? []) {
      const c = visit(next);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of graph.keys()) {
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

test('the folder-level import graph of src/ has no cycle', (t) => {
  const graph = folderGraph();
  t.true(graph.size >= 8, `expected the src/ folders, found ${[...graph.keys()].join(', ')}`);
  const cycle = findCycle(graph);
  t.is(cycle, undefined, `import cycle: ${cycle?.join(' -> ')}`);
});

test('main-thread runtime/ and worker-thread workers/ share only ipc/', (t) => {
  const graph = folderGraph();
  t.false(graph.get('runtime')?.has('workers'), 'runtime/ imports workers/');
  t.false(graph.get('workers')?.has('runtime'), 'workers/ imports runtime/');
  t.true(graph.get('runtime')?.has('ipc'));
  t.true(graph.get('workers')?.has('ipc'));
  // ipc/ is the contract: it depends on nothing thread-specific.
  for (const side of ['runtime', 'workers']) t.false(graph.get('ipc')?.has(side), `ipc/ imports ${side}/`);
});

test('the cycle finder reports a planted cycle', (t) => {
  const g = new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])]]);
  t.deepEqual(findCycle(g), ['a', 'b', 'c', 'a']);
  t.is(findCycle(new Map([['a', new Set(['b'])], ['b', new Set<string>()]])), undefined);
});
