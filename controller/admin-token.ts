/**
 * The admin API token. Configured explicitly, or created on first start into
 * DATA_DIR/admin.token (mode 0600) so the operator on the controller host can
 * read it and nobody else can. An existing file that others can read is refused.
 */
import fs from "node:fs";
import path from "node:path";
import type { Store } from "./store/index.js";
import { generateToken } from "./tokens.js";
import { checkSecretFileMode } from "./data-dir.js";

export const ADMIN_TOKEN_FILE = "admin.token";

/** Returns the path of the token file when one was used. */
export function ensureAdminToken(store: Store, dataDir: string, configured: string | undefined): string | null {
  if (configured) {
    if (store.apiTokens.verify(configured) === null) store.apiTokens.add(`admin-configured-${Date.now()}`, configured, Date.now());
    return null;
  }
  const file = path.join(dataDir, ADMIN_TOKEN_FILE);
  let token: string;
  if (fs.existsSync(file)) {
    checkSecretFileMode(file, "the admin token file");
    token = fs.readFileSync(file, "utf8").trim();
  } else {
    token = generateToken("api");
    // wx: never overwrite a token another process just wrote.
    fs.writeFileSync(file, token + "\n", { mode: 0o600, flag: "wx" });
  }
  if (store.apiTokens.verify(token) === null) store.apiTokens.add(`admin-${Date.now()}`, token, Date.now());
  return file;
}
