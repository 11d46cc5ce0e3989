/**
 * Documentation references stay inside the repository: every section a comment cites is in
 * docs/ (scripts/docs-refs.mjs). The rule tests pin the rewrite; the tree test keeps it true.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// build/test/foundation/ -> repository root
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = `${ROOT}scripts/docs-refs.mjs`;

type Rewrite = (text: string, rel: string) => { text: string; changes: unknown[]; outside: number };
type Missing = (text: string, rel: string) => { line: number; ref: string }[];
const script = async () => (await import(new URL(`file://${SCRIPT}`).href)) as { rewrite: Rewrite; missingSections: Missing };
const load = async (): Promise<Rewrite> => (await script()).rewrite;

const OLD_PROTOCOL = ['mxl', 'fabrics', 'protocol.md'].join('-');
const OLD_NOTES = ['peers', 'md'].join('.');

test('references to the private specs become docs/ references, keeping the section', async (t) => {
  const rewrite = await load();
  const cases: [string, string, string][] = [
    ['src/fabrics/x.ts', '// (protocol §4.3, §5.2, §5.3)', '// (docs/protocol.md §4.3, §5.2, §5.3)'],
    ['src/fabrics/x.ts', `// (${OLD_PROTOCOL} §1.2)`, '// (docs/protocol.md §1.2)'],
    ['src/fabrics/x.ts', '// upstream never does, §8 item 3', '// upstream never does, docs/protocol.md §8 item 3'],
    ['src/fabrics/x.ts', `// (upstream does not, ${OLD_NOTES} §3 item 12)`, '// (upstream does not, docs/field-notes.md §3 item 12)'],
    ['src/fabrics/x.ts', '// exclusive end, domain spec §4.4', '// exclusive end, docs/domain-format.md §4.4'],
    ['src/domain/x.ts', '// readers take no locks (§1.4), see spec §3.4', '// readers take no locks (docs/domain-format.md §1.4), see docs/domain-format.md §3.4'],
    ['src/domain/x.ts', '/* joining (§1.2 step 8 and\n * §1.3) */', '/* joining (docs/domain-format.md §1.2 step 8 and\n * §1.3) */'],
    ['src/fabrics/x.ts', '/* never tell (protocol\n * §5.3) */', '/* never tell (docs/protocol.md\n * §5.3) */'],
    ['bench/x.ts', '// same as rma_bw, limits.md §2b', '// same as rma_bw, docs/limits.md §2b'],
    ['src/runtime/x.ts', '// see docs/runtime-rings.md §5', '// see docs/runtime-rings.md §5'],
  ];
  for (const [rel, before, after] of cases) {
    const once = rewrite(before, rel);
    t.is(once.text, after, before);
    t.deepEqual(rewrite(once.text, rel).changes, [], `idempotent: ${after}`);
  }
});

test('pages in docs/ get relative names, and keep their own bare sections', async (t) => {
  const rewrite = await load();
  t.is(rewrite(`follows (${OLD_PROTOCOL} §7.1), see §2 below`, 'docs/cli.md').text, 'follows (protocol.md §7.1), see §2 below');
});

test('a cited section must exist in the page it names', async (t) => {
  const { missingSections } = await script();
  t.deepEqual(missingSections('// docs/protocol.md §4.3, §4.4 and docs/domain-format.md §8 item 17', 'src/x.ts'), []);
  t.deepEqual(missingSections('// docs/protocol.md §4.3, §4.99', 'src/x.ts').map((m) => m.ref), ['protocol.md §4.99']);
  t.deepEqual(missingSections('// docs/field-notes.md §3 item 40', 'src/x.ts').map((m) => m.ref), ['field-notes.md §3.40']);
  t.deepEqual(missingSections('see [limits.md](limits.md) note 3', 'docs/x.md'), []);
});

test('every documentation reference in the tree points into docs/', async (t) => {
  // Fails until `node scripts/docs-refs.mjs --write` has been run on the merged tree.
  const { code, out } = await new Promise<{ code: number; out: string }>((resolve) => {
    execFile(process.execPath, [SCRIPT, '--check'], { cwd: ROOT }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
  t.is(code, 0, out);
});
