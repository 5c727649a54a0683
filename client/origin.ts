/**
 * Where `client.fetch` may name the session (SPEC §9): an anonymous session's
 * id is its only credential, so `X-Notif-Session` goes only to the page's own
 * origin and to the hub's, never to a third party the app happens to fetch.
 */

/** The page's URL, when there is a page (browsers); `undefined` in Node. */
function pageUrl(): string | undefined {
  const location = (globalThis as { location?: { href?: unknown } }).location;
  return typeof location?.href === "string" ? location.href : undefined;
}

/** The origin of `input` resolved against the page; `undefined` when it has none (a relative URL in Node). */
function originOf(input: string | URL | Request, page: string | undefined): string | undefined {
  const href = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  try {
    return new URL(href, page).origin;
  } catch {
    return undefined;
  }
}

/**
 * True when a request to `input` may carry the session id: same origin as
 * the page, or as the hub at `hubUrl`. A relative URL with no page to resolve
 * it against (Node) goes nowhere else than where the caller's fetch sends it,
 * so it may.
 *
 * @example mayNameSession("https://api.example/x", "/notif") // false on https://app.example
 */
export function mayNameSession(input: string | URL | Request, hubUrl: string): boolean {
  const page = pageUrl();
  const target = originOf(input, page);
  if (target === undefined || target === "null") return page === undefined;
  if (page !== undefined && target === new URL(page).origin) return true;
  return target === originOf(hubUrl, page);
}

/**
 * True when a `sendBeacon` to the hub would not be the client's own request:
 * a beacon always carries cookies, so with `withCredentials: false` and a
 * hub on another origin it may speak for another identity than the stream
 * (which sent none), and the hub refuses it. A `keepalive` fetch with the
 * client's own credentials is sent instead.
 */
export function beaconSpeaksForOther(hubUrl: string, withCredentials: boolean): boolean {
  if (withCredentials) return false;
  const page = pageUrl();
  return page !== undefined && originOf(hubUrl, page) !== new URL(page).origin;
}
