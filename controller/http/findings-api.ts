/**
 * GET /v1/findings: a page of findings (controller/store/finding-pages.ts)
 * as a JSON array, with `X-Total-Count` (how many match on every page) and,
 * when more follow, `Link: </v1/findings?...&after=CURSOR>; rel="next"`.
 */
import { z } from "zod";
import { ApiError, JsonWithHeaders, type Router } from "./router.js";
import type { Store } from "../store/index.js";
import { SEVERITIES } from "../../shared/protocol/findings.js";
import { decodeCursor, DEFAULT_FINDINGS_LIMIT, encodeCursor, MAX_FINDINGS_LIMIT } from "../store/finding-pages.js";

const SEVERITY = z.enum(SEVERITIES);

export function registerFindingsApi(router: Router, store: Store): void {
  router.add("GET", "/v1/findings", ({ url }) => {
    const query = url.searchParams;
    const host = query.get("host") ?? undefined;
    if (host && !store.hosts.findByName(host)) throw new ApiError("NS_ERR_NO_HOST", `no host named '${host}'`);
    const severityText = query.get("severity");
    const severity = severityText === null ? undefined : SEVERITY.safeParse(severityText);
    if (severity && !severity.success) {
      throw new ApiError("NS_ERR_BAD_REQUEST", `severity=${severityText}: expected one of ${SEVERITIES.join(", ")}`);
    }
    const limitText = query.get("limit");
    const limit = limitText ? Number(limitText) : undefined;
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
      throw new ApiError("NS_ERR_BAD_REQUEST", `limit=${limitText}: expected a positive integer (at most ${MAX_FINDINGS_LIMIT} are answered)`);
    }
    const afterText = query.get("after");
    const after = afterText === null ? undefined : decodeCursor(afterText);
    if (after === null) {
      throw new ApiError("NS_ERR_BAD_REQUEST", `after=${afterText!.slice(0, 100)}: not a cursor of this listing; ` +
        "take the next page's URL from the Link header of the page before");
    }
    const includeResolved = query.get("resolved") === "true";
    const page = store.health.findingsPage({ host, severity: severity?.data, includeResolved, limit, after });
    const headers: Record<string, string> = { "X-Total-Count": String(page.total) };
    if (page.next) {
      const next = new URLSearchParams();
      if (host) next.set("host", host);
      if (severity?.data) next.set("severity", severity.data);
      if (includeResolved) next.set("resolved", "true");
      next.set("limit", String(Math.min(limit ?? DEFAULT_FINDINGS_LIMIT, MAX_FINDINGS_LIMIT)));
      next.set("after", encodeCursor(page.next));
      headers.Link = `</v1/findings?${next.toString()}>; rel="next"`;
    }
    return new JsonWithHeaders(page.findings, headers);
  });
}
