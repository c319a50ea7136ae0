/**
 * Writes the generated reference documents under docs/ from the registries in
 * the code (`npm run docs`); with --check, writes nothing and exits 1 when a
 * document is out of date. Run from the repository root.
 */
import fs from "node:fs";
import path from "node:path";
import { ERRORS_DOC, renderErrorsDoc } from "./docs/errors.js";

/** Every generated document: its path from the repository root and how it is rendered. */
const GENERATED_DOCS: readonly { file: string; render: () => string }[] = [
  { file: ERRORS_DOC, render: renderErrorsDoc },
];

const check = process.argv.includes("--check");
const stale: string[] = [];
for (const doc of GENERATED_DOCS) {
  const file = path.resolve(doc.file);
  const text = doc.render();
  const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
  if (current === text) continue;
  if (check) {
    stale.push(doc.file);
  } else {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    process.stdout.write(`wrote ${doc.file}\n`);
  }
}
if (stale.length > 0) {
  process.stderr.write(`out of date (run npm run docs): ${stale.join(", ")}\n`);
  process.exitCode = 1;
}
