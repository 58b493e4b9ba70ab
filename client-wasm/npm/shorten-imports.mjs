// Shortens wasm-bindgen's hashed import names in one wasm-pack output folder, in the .wasm and in
// every .js file beside it: `__wbg_addEventListener_847fd86b8c33ec43` becomes `__t0`.
//
// The 16-hex-digit hash keeps names unique when several wasm-bindgen modules are linked into one;
// a package is a single module, where the names are unique already. The hashes cannot be
// compressed, and each name is written twice (the .wasm's import section and the glue's import
// object): shortening them saves about 1.9 KB of the package's gzip size. The renaming is a
// bijection over whole names, applied to both files, so the glue and the module still agree;
// scripts/npm-tests.sh runs the result in two browsers.
//
//   node shorten-imports.mjs DIR
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
const wasmFile = readdirSync(dir).find((name) => name.endsWith('.wasm'));
if (!dir || !wasmFile) throw new Error('usage: node shorten-imports.mjs DIR (with one .wasm in it)');
const HASHED = /^__wbg_[A-Za-z0-9_]*_[0-9a-f]{16}$/;

const bytes = readFileSync(path.join(dir, wasmFile));
let at = 0;
const leb = () => {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return value;
  }
};
const encodeLeb = (value) => {
  const out = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return Buffer.from(out);
};
const name = (text) => Buffer.concat([encodeLeb(Buffer.byteLength(text)), Buffer.from(text)]);

const renames = new Map();
const sections = [bytes.subarray(0, 8)];
at = 8;
while (at < bytes.length) {
  const id = bytes[at++];
  const size = leb();
  const end = at + size;
  if (id !== 2) {
    sections.push(Buffer.concat([Buffer.from([id]), encodeLeb(size), bytes.subarray(at, end)]));
    at = end;
    continue;
  }
  // The import section: (module name, field name, description) per import.
  const count = leb();
  const body = [encodeLeb(count)];
  for (let i = 0; i < count; i++) {
    const moduleLength = leb();
    const module = bytes.subarray(at, (at += moduleLength)).toString();
    const fieldLength = leb();
    const field = bytes.subarray(at, (at += fieldLength)).toString();
    const descriptionStart = at;
    const kind = bytes[at++];
    const limits = () => {
      const flags = bytes[at++];
      leb();
      if (flags & 1) leb();
    };
    if (kind === 0) leb(); // a function: its type index
    else if (kind === 1) (at++, limits()); // a table: element type, limits
    else if (kind === 2) limits(); // a memory
    else if (kind === 3) at += 2; // a global: value type, mutability
    else throw new Error(`import ${module}.${field} has a kind (${kind}) this script does not know`);
    let short = field;
    if (HASHED.test(field)) {
      if (!renames.has(field)) renames.set(field, `__t${renames.size.toString(36)}`);
      short = renames.get(field);
    }
    body.push(name(module), name(short), bytes.subarray(descriptionStart, at));
  }
  if (at !== end) throw new Error('the import section did not parse to its end');
  const section = Buffer.concat(body);
  sections.push(Buffer.concat([Buffer.from([id]), encodeLeb(section.length), section]));
}
writeFileSync(path.join(dir, wasmFile), Buffer.concat(sections));

for (const file of readdirSync(dir).filter((name) => name.endsWith('.js'))) {
  let text = readFileSync(path.join(dir, file), 'utf8');
  // Hashed names left over belong to imports wasm-opt removed as unused: harmless keys.
  for (const [long, short] of renames) text = text.split(long).join(short);
  writeFileSync(path.join(dir, file), text);
}
console.log(`${dir}: ${renames.size} import names shortened`);
