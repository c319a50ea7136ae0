/**
 * The request target (`req.url`) as a URL, for the router and the upgrade
 * handler alike. `new URL(target, base)` reads `//x` as a host and throws on
 * `//` itself; an origin-form target is a path, so it is appended to a fixed
 * origin instead, which cannot fail. Anything else, and a path whose
 * percent-encoding is broken, is refused with a 400.
 */
import { ApiError } from "./api-error.js";

const ORIGIN = "http://localhost";

export function parseRequestTarget(target: string | undefined): URL {
  const raw = target ?? "/";
  if (raw.startsWith("/")) return withDecodablePath(new URL(ORIGIN + raw));
  // Absolute form (`GET http://host/path`), which HTTP/1.1 servers must accept; its authority is ignored.
  let absolute: URL | null = null;
  try {
    absolute = new URL(raw);
  } catch {
    // refused below
  }
  if (absolute && (absolute.protocol === "http:" || absolute.protocol === "https:")) {
    return withDecodablePath(new URL(ORIGIN + absolute.pathname + absolute.search));
  }
  throw new ApiError("NS_ERR_BAD_PATH", `request target ${JSON.stringify(raw.slice(0, 200))} is not a path: expected /v1/...`);
}

/**
 * Broken percent-encoding anywhere in the path (`/%`, `/v1/agent%zz`) is
 * refused here, so a plain request and an upgrade for the same target get
 * the same 400 whether or not a route would have matched it.
 */
function withDecodablePath(url: URL): URL {
  decodePathSegment(url.pathname);
  return url;
}

/** One path segment, percent-decoded; broken encoding (`%E0%A4%A`) is the client's error, not ours. */
export function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ApiError("NS_ERR_BAD_PATH",
      `path segment ${JSON.stringify(segment.slice(0, 200))} has malformed percent-encoding: encode names with encodeURIComponent`);
  }
}
