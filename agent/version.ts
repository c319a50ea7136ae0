import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** The package version, read once from package.json at the repository (or install) root. */
export const AGENT_VERSION: string = (() => {
  for (const candidate of ["../package.json", "../../package.json"]) {
    try {
      return (require(candidate) as { version: string }).version;
    } catch {
      // compiled (dist/agent) and source (agent/) layouts differ by one level
    }
  }
  return "0.0.0";
})();
