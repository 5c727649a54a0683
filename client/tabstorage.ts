/**
 * The last event id a sharing tab heard of, kept in `sessionStorage` (per
 * tab, it survives a reload) so that a reloaded tab can resume the session.
 * Storage disabled, a reloaded tab starts a new session.
 */

const STORAGE = "sse-notif last event";

/** The last event id this tab stored, if any. */
export function readLastId(): string | undefined {
  try {
    return sessionStorage.getItem(STORAGE) ?? undefined;
  } catch {
    return undefined;
  }
}

/** Stores `id` (nothing when undefined) for a reload of this tab. */
export function writeLastId(id: string | undefined): void {
  try {
    if (id !== undefined) sessionStorage.setItem(STORAGE, id);
  } catch {
    // storage disabled: a reloaded tab then starts a new session
  }
}
