// Validates AsyncAPI documents with the AsyncAPI project's own parser (@asyncapi/parser,
// the library `asyncapi validate` runs): the specification's JSON Schema and the Kafka
// bindings' schemas, every $ref (the schemas/json files included), the message payload
// schemas and the parser's rules.
//
//   node schemas/asyncapi/validate.mjs [--json] [FILE ...]     (default: schemas/asyncapi.yaml)
//
// Prints every diagnostic (errors, warnings, information) per file, or with --json one JSON
// array of {file, valid, version, diagnostics}. Exit code 0 when every file has no error,
// 1 when one has, 2 on bad usage.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { DiagnosticSeverity, Parser } from '@asyncapi/parser';

const SEVERITY = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'information',
  [DiagnosticSeverity.Hint]: 'hint',
};

const args = process.argv.slice(2);
const json = args.includes('--json');
const files = args.filter((a) => a !== '--json');
if (files.some((f) => f.startsWith('-'))) {
  console.error('usage: node validate.mjs [--json] [FILE ...]');
  process.exit(2);
}
if (!files.length) {
  files.push(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'asyncapi.yaml'));
}

async function validate(parser, file) {
  const source = path.resolve(file);
  let text;
  try {
    text = await readFile(source, 'utf8');
  } catch (err) {
    const diagnostic = { severity: 'error', code: 'unreadable', path: [], message: err.message };
    return { file: source, valid: false, version: null, diagnostics: [diagnostic] };
  }
  const { document, diagnostics } = await parser.parse(text, { source });
  const found = diagnostics.map((d) => ({
    severity: SEVERITY[d.severity] ?? String(d.severity),
    code: String(d.code),
    path: (d.path ?? []).map(String),
    line: d.range ? d.range.start.line + 1 : null,
    message: d.message,
  }));
  const valid = Boolean(document) && !found.some((d) => d.severity === 'error');
  return { file: source, valid, version: document ? document.version() : null, diagnostics: found };
}

const parser = new Parser();
const results = [];
for (const file of files) {
  results.push(await validate(parser, file));
}

if (json) {
  console.log(JSON.stringify(results, null, 2));
} else {
  for (const r of results) {
    for (const d of r.diagnostics) {
      const where = d.path.length ? d.path.join('.') : '(document)';
      console.log(`${r.file}:${d.line ?? 1}: ${d.severity} ${d.code} at ${where}: ${d.message}`);
    }
    const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
    console.log(r.valid ? `${r.file}: valid AsyncAPI ${r.version}` : `${r.file}: INVALID (${errors} errors)`);
  }
}
process.exit(results.every((r) => r.valid) ? 0 : 1);
