/**
 * `npm run docs`: writes every generated document (scripts/docs.ts) under the
 * repository's root. With --check it writes nothing and exits 1 naming each
 * file that is out of date.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DOCS } from "./docs.js";

// dist/scripts/gen-docs.js -> the repository's root.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const check = process.argv.includes("--check");
let stale = 0;
for (const doc of DOCS) {
  const file = path.join(root, doc.file);
  const text = doc.render();
  const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
  if (current === text) continue;
  if (check) {
    process.stderr.write(`${doc.file} is out of date: run npm run docs\n`);
    stale++;
    continue;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  process.stdout.write(`wrote ${doc.file}\n`);
}
process.exitCode = stale > 0 ? 1 : 0;
