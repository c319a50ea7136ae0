/**
 * Commands the README gives an operator must work as written. Where the
 * command itself cannot run here (a hypervisor, a second machine), the
 * traps found by using them are checked in the text.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../helpers/run.js";

const readme = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
/** Every shell command in backticks or code blocks, joined across the README's line wraps. */
const commands = (prefix: string): string[] => readme.replace(/\n(?!\n)/g, " ").split(prefix).slice(1).map((rest) => prefix + rest.split("`")[0]!);

describe("README commands", () => {
  it("every `virsh metadata --set` for a running VM also sets the live XML (the agent reads the live XML)", () => {
    const sets = commands("virsh metadata ").filter((c) => c.includes("--set"));
    expect(sets.length).toBeGreaterThanOrEqual(2);
    for (const command of sets) expect(command).toMatch(/--live --config --set/);
  });

  it("the install steps build before dropping the dev dependencies (typescript is one)", () => {
    const install = readme.slice(readme.indexOf("## Installing"), readme.indexOf("### systemd units"));
    expect(install).not.toMatch(/npm ci --omit=dev && npm run build/);
    expect(install.indexOf("npm run build")).toBeGreaterThan(-1);
    expect(install.indexOf("npm prune --omit=dev")).toBeGreaterThan(install.indexOf("npm run build"));
  });

  it("the enroll pipe creates /etc/nightshift before writing the token into it", () => {
    const pipe = commands("nightshift hosts enroll web1 | ssh ")[0]!;
    expect(pipe).toMatch(/mkdir -p -m 0700 \/etc\/nightshift/);
    expect(pipe.indexOf("mkdir")).toBeLessThan(pipe.indexOf("cat > /etc/nightshift/agent.token"));
  });

  it("says how nightshift gets on PATH", () => {
    const install = readme.slice(readme.indexOf("## Installing"), readme.indexOf("### systemd units"));
    expect(install).toMatch(/ln -s \/opt\/nightshift\/dist\/cli\/main\.js \/usr\/local\/bin\/nightshift/);
  });
});
