#!/usr/bin/env node
/**
 * Keeps every documentation reference in the tree pointing at the project's own docs/.
 *
 * Code comments used to cite the team's private reference material (the protocol and
 * domain-format contracts, the machine-limits and field notes) by section. docs/protocol.md,
 * docs/domain-format.md, docs/limits.md and docs/field-notes.md keep those section numbers,
 * so a reference is rewritten mechanically: `protocol §4.3` -> `docs/protocol.md §4.3`.
 *
 *   node scripts/docs-refs.mjs            dry run: list every rewrite, change nothing
 *   node scripts/docs-refs.mjs --write    apply the rewrites (idempotent)
 *   node scripts/docs-refs.mjs --check    exit 1 and list every reference that still points
 *                                         outside docs/, or at a docs/ page or section
 *                                         (§4.3, §8 item 3, note 3) that does not exist
 *
 * Code (src/ native/ test/ bench/): explicit file names, "protocol §", "domain spec §",
 * "spec §", and bare "§N" (which takes the folder's document: domain code cites the domain
 * format, everything else the protocol). docs/ and README.md: file names only (a bare "§"
 * there is the page's own section).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CODE_DIRS = ['src', 'native', 'test', 'bench'];
const DOC_FILES = () => [
  ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
  'README.md',
];
const TEXT = /\.(ts|mts|cts|js|mjs|cjs|cc|cpp|c|h|hpp|md|sh|py|txt|cmake)$/;
const SKIP = new Set(['node_modules', 'build', '.git']);
/** This script and its test describe the old forms; they are not references. */
const SELF = new Set(['scripts/docs-refs.mjs', 'test/foundation/docs-refs.test.ts']);

const PROTOCOL = 'docs/protocol.md';
const DOMAIN = 'docs/domain-format.md';
const LIMITS = 'docs/limits.md';
const FIELD = 'docs/field-notes.md';

/** The document a bare "§" or a plain "spec §" means in this file. */
function defaultDoc(rel) {
  return /^(src\/domain|test\/domain|bench\/domain)\//.test(rel) || /^native\/src\/shm/.test(rel) ? DOMAIN : PROTOCOL;
}

const SEC = String.raw`§\d+(?:\.\d+)*[a-z]?`;
/** Line break inside a comment: newline, indentation and an optional `*`, `//` or `#`. */
const GAP = String.raw`(?:[ \t]*\n[ \t]*(?:\*|\/\/|#)?)?[ \t]*`;

/** Explicit file names (valid in code and in docs). `to` gets the docs/ prefix in code only. */
const FILE_RULES = [
  { re: /(?:\/work\/shared\/spec\/|(?<![\w/.-]))mxl-fabrics-protocol\.md/g, to: 'protocol.md' },
  { re: /(?:\/work\/shared\/spec\/|(?<![\w/.-]))mxl-domain-format\.md/g, to: 'domain-format.md' },
  { re: /(?:\/work\/shared\/notes\/|(?<![\w/.-]))limits\.md/g, to: 'limits.md' },
  { re: /(?:\/work\/shared\/notes\/|(?<![\w/.-]))peers\.md/g, to: 'field-notes.md' },
];

/** Words in code comments that name a document just before a section sign. */
const WORD_RULE = new RegExp(String.raw`\b(domain[- ]format spec|domain[- ]format|domain spec|protocol spec|protocol|spec)(${GAP})(?=§\d)`, 'gi');

/** Text just before a "§" that already anchors it: a docs/ path, or a list continuing an anchored one. */
const ANCHORED = new RegExp(String.raw`docs\/[\w-]+\.md${GAP}$`);
const CONTINUES = new RegExp(
  String.raw`${SEC}(?:\s+(?:items?|steps?|notes?|rows?)\s+\d+(?:\s*[-–]\s*\d+)?)?(?:\s*[-–]\s*\d+(?:\.\d+)*)?\s*(?:,|;|\band\b|\bor\b|\/|&)${GAP}$`,
);

function wordTarget(word, rel) {
  const w = word.toLowerCase();
  if (w.startsWith('domain')) return DOMAIN;
  if (w.startsWith('protocol')) return PROTOCOL;
  return defaultDoc(rel);
}

/**
 * Rewrites one file's text. Returns the new text and the list of rewrites, each with the
 * 1-based line of the original text and a before/after excerpt.
 */
export function rewrite(text, rel) {
  const code = !rel.startsWith('docs/') && rel !== 'README.md';
  const edits = []; // { at, len, to }
  let outside = 0; // section signs that pointed outside docs/
  const taken = (at, len) => edits.some((e) => at < e.at + e.len && e.at < at + len);

  for (const r of FILE_RULES) {
    for (const m of text.matchAll(r.re)) {
      const before = text.slice(Math.max(0, m.index - 5), m.index);
      if (code && before.endsWith('docs/')) continue;
      if (!code && m[0] === r.to) continue;
      edits.push({ at: m.index, len: m[0].length, to: code ? `docs/${r.to}` : r.to, file: true });
    }
  }
  if (code) {
    for (const m of text.matchAll(WORD_RULE)) {
      if (taken(m.index, m[1].length)) continue;
      const prev = text.slice(Math.max(0, m.index - 8), m.index);
      if (/docs\/$|[\w/.-]$/.test(prev) && !/\s$/.test(prev)) continue; // part of a path or a word
      edits.push({ at: m.index, len: m[1].length, to: wordTarget(m[1], rel) });
    }
    // Bare section signs: anchored when a docs/ path, a rewritten word or an anchored list precedes them.
    const secRe = new RegExp(SEC, 'g');
    let prevInside = false;
    for (const m of text.matchAll(secRe)) {
      const from = Math.max(0, m.index - 160);
      const original = text.slice(from, m.index);
      // Was this sign already in docs/ before the rewrite (directly, or by continuing a list that was)?
      const inside = ANCHORED.test(original) || (prevInside && CONTINUES.test(original));
      if (!inside) outside++;
      prevInside = inside;
      let prefix = original;
      // Apply the edits made so far inside the prefix, so a rewritten word counts as an anchor.
      for (const e of [...edits].filter((e) => e.at >= from && e.at + e.len <= m.index).sort((a, b) => b.at - a.at)) {
        prefix = prefix.slice(0, e.at - from) + e.to + prefix.slice(e.at - from + e.len);
      }
      if (ANCHORED.test(prefix) || CONTINUES.test(prefix)) continue;
      edits.push({ at: m.index, len: 0, to: `${defaultDoc(rel)} ` });
    }
  }
  edits.sort((a, b) => a.at - b.at);
  let out = '';
  let pos = 0;
  const changes = [];
  for (const e of edits) {
    out += text.slice(pos, e.at) + e.to;
    pos = e.at + e.len;
    const line = text.slice(0, e.at).split('\n').length;
    const ctxEnd = text.indexOf('\n', e.at + e.len);
    const snippet = text.slice(e.at, Math.min(ctxEnd < 0 ? text.length : ctxEnd, e.at + e.len + 24));
    changes.push({ line, before: snippet, after: e.to + snippet.slice(e.len) });
  }
  out += text.slice(pos);
  // A file name cited without a section sign is one more reference outside docs/.
  for (const e of edits) if (e.file && !new RegExp(String.raw`^${GAP}§`).test(text.slice(e.at + e.len))) outside++;
  return { text: out, changes, outside };
}

/** Section numbers a docs/ page defines: headings "## 4.3 …", items "**8.16**" and numbered list items under "## 3. …" (3.12). */
const sectionCache = new Map();
function sectionsOf(name) {
  if (sectionCache.has(name)) return sectionCache.get(name);
  const ids = new Set();
  let file;
  try {
    file = fs.readFileSync(path.join(ROOT, 'docs', name), 'utf8');
  } catch {
    file = undefined;
  }
  if (file !== undefined) {
    let top = '';
    let numberedNotes = false;
    for (const line of file.split('\n')) {
      const h = /^#{2,4}\s+(\d+[a-z]?(?:\.\d+)*[a-z]?)\.?\s/.exec(line);
      if (h) {
        ids.add(h[1]);
        top = h[1];
        numberedNotes = false;
        continue;
      }
      if (/^#{2,4}\s+Notes\b/.test(line)) {
        top = '';
        numberedNotes = true;
        continue;
      }
      const b = /^\*\s+\*\*(\d+\.\d+)\*\*/.exec(line);
      if (b) ids.add(b[1]);
      const li = /^(\d+)\.\s/.exec(line);
      if (li && top) ids.add(`${top}.${li[1]}`);
      if (li && numberedNotes) ids.add(`note ${li[1]}`);
    }
  }
  sectionCache.set(name, file === undefined ? undefined : ids);
  return sectionCache.get(name);
}

const CITE = new RegExp(String.raw`§(\d+[a-z]?(?:\.\d+)*[a-z]?)(?:\s+(items?|steps?|rows?)\s+(\d+))?(?:\s*[-–]\s*(\d+(?:\.\d+)*))?`, 'g');

/** Sections cited in docs/ pages that those pages do not define (checked on the rewritten text). */
export function missingSections(text, rel) {
  const out = [];
  const code = !rel.startsWith('docs/') && rel !== 'README.md';
  for (const m of text.matchAll(CITE)) {
    const prefix = text.slice(Math.max(0, m.index - 160), m.index);
    // The document: the last docs page named before the sign (code: docs/x.md; pages: x.md or [x](x.md)).
    const names = [...prefix.matchAll(code ? /docs\/([\w-]+\.md)/g : /([\w-]+\.md)\)?/g)];
    if (names.length === 0) continue;
    const last = names[names.length - 1];
    // Only when the sign belongs to that reference: directly after it, or in a list that continues it.
    const after = prefix.slice(last.index + last[0].length);
    if (!new RegExp(String.raw`^${GAP}(?:${SEC}[^§]{0,40}?(?:,|;|\band\b|\bor\b|/|&)${GAP})*$`).test(after)) continue;
    const ids = sectionsOf(last[1]);
    if (!ids) continue;
    const wanted = [m[2] && m[1].indexOf('.') < 0 && /^item/.test(m[2]) ? `${m[1]}.${m[3]}` : m[1]];
    if (m[4]) wanted.push(m[4].includes('.') || !m[1].includes('.') ? m[4] : `${m[1].split('.')[0]}.${m[4]}`);
    for (const w of wanted) {
      if (!ids.has(w)) out.push({ line: text.slice(0, m.index).split('\n').length, ref: `${last[1]} §${w}` });
    }
  }
  for (const m of text.matchAll(code ? /docs\/(limits\.md)\s+note\s+(\d+)/g : /(limits\.md)\)?\s+note\s+(\d+)/g)) {
    const ids = sectionsOf(m[1]);
    if (ids && !ids.has(`note ${m[2]}`)) out.push({ line: text.slice(0, m.index).split('\n').length, ref: `${m[1]} note ${m[2]}` });
  }
  return out;
}

/** docs/ paths a file cites that do not exist. */
function missingDocs(text) {
  const out = [];
  for (const m of text.matchAll(/docs\/([\w-]+\.md)/g)) {
    if (!fs.existsSync(path.join(ROOT, 'docs', m[1]))) out.push({ line: text.slice(0, m.index).split('\n').length, ref: m[0] });
  }
  return out;
}

function walk(dir, out) {
  let entries;
  try {
    entries = fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (SKIP.has(e.name)) continue;
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) walk(rel, out);
    else if (TEXT.test(e.name) && !SELF.has(rel)) out.push(rel);
  }
  return out;
}

export function files() {
  const code = CODE_DIRS.flatMap((d) => walk(d, []));
  return [...code, ...DOC_FILES().filter((f) => fs.existsSync(path.join(ROOT, f)))];
}

function main(argv) {
  const mode = argv.includes('--check') ? 'check' : argv.includes('--write') ? 'write' : 'dry-run';
  let refs = 0;
  let sections = 0;
  let touched = 0;
  const problems = [];
  for (const rel of files()) {
    const abs = path.join(ROOT, rel);
    const text = fs.readFileSync(abs, 'utf8');
    const { text: next, changes, outside } = rewrite(text, rel);
    if (changes.length > 0) {
      refs += changes.length;
      sections += outside;
      touched++;
      for (const c of changes) {
        if (mode === 'check') problems.push(`${rel}:${c.line}: ${c.before.trim()}  (should be: ${c.after.trim()})`);
        else console.log(`${rel}:${c.line}: ${c.before.trim()}  ->  ${c.after.trim()}`);
      }
      if (mode === 'write') fs.writeFileSync(abs, next);
    }
    if (mode === 'check') {
      for (const m of missingDocs(text)) problems.push(`${rel}:${m.line}: ${m.ref} does not exist`);
      for (const m of missingSections(next, rel)) problems.push(`${rel}:${m.line}: ${m.ref} is not a section of that page`);
      for (const m of text.matchAll(/\/work\/shared\/[^\s)`'"]*/g)) {
        const line = text.slice(0, m.index).split('\n').length;
        if (!problems.some((p) => p.startsWith(`${rel}:${line}:`))) problems.push(`${rel}:${line}: ${m[0]} is outside the repository`);
      }
    }
  }
  if (mode === 'check') {
    if (problems.length > 0) {
      console.log(problems.join('\n'));
      console.log(`docs-refs: ${problems.length} reference problem(s): outside docs/ (fix with: node scripts/docs-refs.mjs --write), or a docs/ page or section that does not exist`);
      return 1;
    }
    console.log('docs-refs: every reference points into docs/');
    return 0;
  }
  const verb = mode === 'write' ? 'rewrote' : 'would rewrite';
  console.log(`docs-refs: ${verb} ${refs} reference(s) in ${touched} file(s), ${sections} reference(s) (section signs and bare file names) that pointed outside docs/${mode === 'dry-run' ? ' (dry run; --write applies them)' : ''}`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
