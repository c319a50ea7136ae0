/**
 * Where the CLI finds its controller and API token. Each of the two is looked
 * up on its own, first match wins: the flag (--url, --token), then the
 * environment (NIGHTSHIFT_URL, NIGHTSHIFT_TOKEN), then the config file
 * (--config FILE, else $XDG_CONFIG_HOME/nightshift/cli.yaml, else
 * ~/.config/nightshift/cli.yaml) with keys `url` and `token` or `tokenFile`.
 * Errors name every source that was tried.
 */
import fs from "node:fs";
import { exposedMode, exposedTokenFileWarning } from "../shared/file-mode.js";
import path from "node:path";
import { z } from "zod";
import { NightshiftError } from "../shared/errors.js";
import { loadConfig } from "../shared/config.js";
import { readYamlMapping, type YamlFileKind } from "../shared/yaml-file.js";

export class SettingsError extends NightshiftError {
  constructor(message: string) {
    super("NS_ERR_CLI_SETTINGS", message);
  }
}

export const URL_ENV = "NIGHTSHIFT_URL";
export const TOKEN_ENV = "NIGHTSHIFT_TOKEN";

export interface SettingsFlags {
  url?: string | undefined;
  token?: string | undefined;
  config?: string | undefined;
}

export interface SettingsInput {
  flags: SettingsFlags;
  env: NodeJS.ProcessEnv;
  /** The user's home directory (os.homedir()). */
  homeDir: string;
}

export interface Settings {
  /** Base URL without a trailing slash, e.g. https://controller:8650 */
  url: string;
  token: string;
  /** Where each value came from, e.g. "--url", "$NIGHTSHIFT_TOKEN", "tokenFile /etc/... (config file ...)". */
  urlSource: string;
  tokenSource: string;
}

export const CliConfigSchema = z.strictObject({
  url: z.string().min(1).optional().meta({ env: URL_ENV, flag: "--url" })
    .describe("The controller's URL, e.g. https://controller.example:8650 (the agents' port, with http:// or https://)."),
  token: z.string().min(1).optional().meta({ env: TOKEN_ENV, flag: "--token" }).describe("An API token."),
  tokenFile: z.string().min(1).optional()
    .describe("A file holding the API token, instead of token; a relative path is relative to the config file's directory."),
}).refine((c) => !(c.token && c.tokenFile), "set either token or tokenFile, not both");

const CLI_CONFIG_FILE: YamlFileKind = {
  code: "NS_ERR_CLI_SETTINGS",
  what: "config file",
  expected: "a mapping with url and token or tokenFile",
  allowEmpty: true,
  error: (_code, message) => new SettingsError(message),
};

type CliConfig = z.infer<typeof CliConfigSchema>;

export function defaultConfigPath(env: NodeJS.ProcessEnv, homeDir: string): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(homeDir, ".config");
  return path.join(base, "nightshift", "cli.yaml");
}

interface LoadedConfig {
  file: string;
  /** null when the default file does not exist (an explicit --config file must exist). */
  config: CliConfig | null;
}

function loadConfigFile(flags: SettingsFlags, env: NodeJS.ProcessEnv, homeDir: string): LoadedConfig {
  const explicit = flags.config !== undefined;
  const file = explicit ? path.resolve(flags.config!) : defaultConfigPath(env, homeDir);
  if (!explicit && !fs.existsSync(file)) return { file, config: null };
  const config = loadConfig({
    schema: CliConfigSchema, file: readYamlMapping(file, CLI_CONFIG_FILE),
    title: () => `invalid config file ${file}`,
    error: (message) => new SettingsError(message),
  });
  return { file, config };
}

function fromFlagOrEnv(flag: string | undefined, flagName: string, env: NodeJS.ProcessEnv, envName: string):
  { value: string; source: string } | null {
  if (flag !== undefined) {
    if (flag.trim() === "") throw new SettingsError(`${flagName} was given an empty value`);
    return { value: flag.trim(), source: flagName };
  }
  const fromEnv = env[envName]?.trim();
  if (fromEnv) return { value: fromEnv, source: `$${envName}` };
  return null;
}

export function normalizeUrl(text: string, source: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SettingsError(`controller URL ${JSON.stringify(text)} (from ${source}) is not a URL; expected e.g. http://controller:8650`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    const hint = url.protocol === "ws:" || url.protocol === "wss:" ? " (ws:// is the agents' endpoint; the CLI uses the same host and port with http://)" : "";
    throw new SettingsError(`controller URL ${text} (from ${source}) must start with http:// or https://${hint}`);
  }
  if (url.search || url.hash) throw new SettingsError(`controller URL ${text} (from ${source}) must not have a query or fragment`);
  return url.toString().replace(/\/+$/, "");
}

function readTokenFile(file: string, source: string): string {
  let token: string;
  try {
    token = fs.readFileSync(file, "utf8").trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SettingsError(`cannot read token file ${file} (${source}): ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  if (!token) throw new SettingsError(`token file ${file} (${source}) is empty`);
  const exposed = exposedMode(file);
  // A warning, not a refusal: the command still runs, the operator learns of it.
  if (exposed !== null) process.stderr.write(`nightshift: warning: ${exposedTokenFileWarning(file, exposed)} (NS_ERR_FILE_MODE)\n`);
  return token;
}

function describeTried(flag: string, envName: string, loaded: LoadedConfig, keys: string): string {
  const fileState = loaded.config === null ? "not found" : `no ${keys}`;
  return `tried ${flag}, $${envName} and the config file ${loaded.file} (${fileState})`;
}

/** Resolves URL and token; the config file is read only when a value is still missing or --config was given. */
export function resolveSettings(input: SettingsInput): Settings {
  const { flags, env, homeDir } = input;
  const url = fromFlagOrEnv(flags.url, "--url", env, URL_ENV);
  const token = fromFlagOrEnv(flags.token, "--token", env, TOKEN_ENV);
  const loaded = url && token && flags.config === undefined ? null : loadConfigFile(flags, env, homeDir);
  const configSource = loaded ? `config file ${loaded.file}` : "";

  let resolvedUrl = url;
  if (!resolvedUrl && loaded?.config?.url) resolvedUrl = { value: loaded.config.url, source: configSource };
  if (!resolvedUrl) {
    throw new SettingsError(`no controller URL: ${describeTried("--url", URL_ENV, loaded!, "url key")}. ` +
      `Pass --url http://CONTROLLER:8650, set ${URL_ENV}, or put "url: ..." in the config file`);
  }

  let resolvedToken = token;
  if (!resolvedToken && loaded?.config?.token) resolvedToken = { value: loaded.config.token, source: configSource };
  if (!resolvedToken && loaded?.config?.tokenFile) {
    const file = path.resolve(path.dirname(loaded.file), loaded.config.tokenFile);
    const source = `tokenFile ${file} from ${configSource}`;
    resolvedToken = { value: readTokenFile(file, `tokenFile in ${configSource}`), source };
  }
  if (!resolvedToken) {
    throw new SettingsError(`no API token: ${describeTried("--token", TOKEN_ENV, loaded!, "token or tokenFile key")}. ` +
      `The admin token is in the controller's data directory (/var/lib/nightshift/admin.token by default); ` +
      `pass it with --token, set ${TOKEN_ENV}, or put "tokenFile: PATH" in the config file`);
  }

  return {
    url: normalizeUrl(resolvedUrl.value, resolvedUrl.source),
    token: resolvedToken.value,
    urlSource: resolvedUrl.source,
    tokenSource: resolvedToken.source,
  };
}

/** The help text's ENVIRONMENT and FILES sections, shared by every command. */
export const SETTINGS_HELP = `
Controller and token (each looked up on its own; the first that is set wins):
  1. --url URL / --token TOKEN
  2. ${URL_ENV} / ${TOKEN_ENV}
  3. the config file: --config FILE, else $XDG_CONFIG_HOME/nightshift/cli.yaml,
     else ~/.config/nightshift/cli.yaml, with the keys
       url: https://controller.example:8650
       token: nsa_...            # or
       tokenFile: /path/to/token # relative to the config file's directory
  The admin token is written to DATA_DIR/admin.token on the controller
  (/var/lib/nightshift/admin.token by default).

Environment:
  ${URL_ENV}        controller URL, e.g. http://controller:8650
  ${TOKEN_ENV}      API token
  XDG_CONFIG_HOME       where cli.yaml is looked for (default ~/.config)
  NODE_EXTRA_CA_CERTS   PEM bundle to trust for an https controller with a private CA

Exit status: 0 ok, 1 error (message and NS_ERR_ code on stderr), 2 usage error.`;
