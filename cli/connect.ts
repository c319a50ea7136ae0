/** The API client for a command, from its flags (including the global --url/--token/--config). */
import os from "node:os";
import type { Command } from "commander";
import { ApiClient } from "./api-client.js";
import { resolveSettings, type SettingsFlags } from "./settings.js";

export function clientFor(cmd: Command, env: NodeJS.ProcessEnv = process.env, timeoutMs?: number): ApiClient {
  const settings = resolveSettings({ flags: cmd.optsWithGlobals<SettingsFlags>(), env, homeDir: os.homedir() });
  return new ApiClient({ url: settings.url, token: settings.token, tokenSource: settings.tokenSource, timeoutMs });
}
