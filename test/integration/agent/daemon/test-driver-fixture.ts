/**
 * The setup every agent-daemon test file shares: the agent binary must be
 * built, a connection to libvirtd's test driver for defining domains, domains
 * named with the file's own prefix removed at the end, and per-test cleanups
 * (peers, agent processes, temp dirs) run in reverse order after each test.
 * Call it once at a test file's top level; it registers the hooks.
 */
import fs from "node:fs";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { LibvirtConnection } from "../../../../agent/libvirt/connection.js";
import { removeDomainsWithPrefix, testPrefix } from "../../../helpers/libvirt.js";
import { AGENT_BIN } from "../../../helpers/run.js";

export interface TestDriverFixture {
  /** Unique per test file and run: name every domain with it. */
  prefix: string;
  /** Run after the current test, last pushed first. */
  cleanups: (() => Promise<void> | void)[];
  /** The test-driver connection (open from beforeAll on). */
  conn(): LibvirtConnection;
}

export function testDriverFixture(kind: string): TestDriverFixture {
  const prefix = testPrefix(kind);
  const cleanups: (() => Promise<void> | void)[] = [];
  let connection: LibvirtConnection | null = null;

  beforeAll(async () => {
    expect(fs.existsSync(AGENT_BIN), `${AGENT_BIN} missing: run npm run build`).toBe(true);
    connection = await LibvirtConnection.open({ uri: "test:///default" });
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  afterAll(async () => {
    if (!connection) return;
    await removeDomainsWithPrefix(connection, prefix);
    await connection.connectClose();
  });

  return {
    prefix,
    cleanups,
    conn: () => {
      if (!connection) throw new Error("the test-driver connection is opened in beforeAll");
      return connection;
    },
  };
}
