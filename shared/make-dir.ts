/**
 * `mkdir -p` that always ends. Node 20's `fs.mkdirSync(dir, { recursive: true })`
 * loops forever when mkdir(2) answers ENOENT although the parent exists (a
 * directory under /proc, a parent removed meanwhile): a daemon given such a
 * data or state directory would hang at start instead of saying why. Here
 * each missing component is made once, from the first existing ancestor down.
 */
import fs from "node:fs";
import path from "node:path";

export function makeDirs(dir: string, mode = 0o700): void {
  const missing: string[] = [];
  let current = path.resolve(dir);
  for (;;) {
    try {
      if (fs.statSync(current).isDirectory()) break;
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}' (${current} is a file)`), { code: "ENOTDIR" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    missing.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const component of missing) {
    try {
      fs.mkdirSync(component, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
}
