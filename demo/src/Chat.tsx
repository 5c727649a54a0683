/** One user's page: a connection, its state, the rooms joined, the mute list. */
import { createEffect, createSignal, For, on, onCleanup, Show } from "solid-js";
import {
  createNotifClient,
  type NotifStatus,
  onShare,
  type ShareInfo,
} from "../../client/index.js";
import { createNotifState, createNotifStatus } from "../../client/solid.js";
import { type Me, ROOMS, type RoomName } from "../shared.js";
import { setMuted } from "./api.js";
import { Room } from "./Room.jsx";

export function Chat(props: { me: Me; onMe: (me: Me) => void; onLogout: () => void }) {
  const client = createNotifClient({ url: "/notif", reconnect: { retry: 1_000 } }); // the hub's retry
  onCleanup(() => client.close());
  const state = createNotifState(client);
  const status = createNotifStatus(client);
  const [share, setShare] = createSignal<ShareInfo>({ shared: false, leader: true, tabs: 1 });
  onCleanup(onShare(client, setShare));
  const [joined, setJoined] = createSignal<RoomName[]>(["general", "random"]);
  // Rooms refetch their history when this changes: after a gap, or a new mute list.
  const [epoch, setEpoch] = createSignal(0);
  const refetch = () => setEpoch((n) => n + 1);
  createEffect(on(status, (s) => s.gap && refetch(), { defer: true }));

  const mute = (user: string, muted: boolean) =>
    void setMuted(user, muted).then((me) => {
      props.onMe(me);
      refetch();
    });
  const toggle = (room: RoomName, on: boolean) =>
    setJoined(ROOMS.filter((r) => (r === room ? on : joined().includes(r))));

  return (
    <div class="chat">
      <header>
        <h1>sse-notif rooms</h1>
        <span class={`badge ${state()}`} data-testid="state">
          {state()}
        </span>
        <span class="status" data-testid="status">
          {describe(status())}
        </span>
        <span class="tabs" data-testid="tabs" title="tabs of this browser on one connection">
          {describeShare(share())}
        </span>
        <span class="me">
          {props.me.user}{" "}
          <button type="button" onClick={props.onLogout}>
            log out
          </button>
        </span>
      </header>
      <nav>
        <For each={ROOMS}>
          {(room) => (
            <label>
              <input
                type="checkbox"
                checked={joined().includes(room)}
                onChange={(e) => toggle(room, e.currentTarget.checked)}
              />
              #{room}
            </label>
          )}
        </For>
        <Show when={props.me.muted.length > 0}>
          <span class="muted">
            muted:
            <For each={props.me.muted}>
              {(user) => (
                <button type="button" class="chip" title="unmute" onClick={() => mute(user, false)}>
                  {user} ×
                </button>
              )}
            </For>
          </span>
        </Show>
      </nav>
      <main>
        <For each={joined()}>
          {(room) => (
            <Room client={client} room={room} epoch={epoch()} onMute={(u) => mute(u, true)} />
          )}
        </For>
      </main>
    </div>
  );
}

/** "3 tabs share this connection (this one holds it)". */
function describeShare(share: ShareInfo): string {
  if (!share.shared) return "own connection";
  const tabs = share.tabs === 1 ? "1 tab uses" : `${share.tabs} tabs share`;
  return `${tabs} this connection${share.leader ? " (held here)" : ""}`;
}

function describe(status: NotifStatus): string {
  switch (status.state) {
    case "connecting":
      return status.session === undefined ? "connecting…" : "connection lost, reconnecting…";
    case "closed":
      return "closed";
    case "open":
      if (status.gap) return "gap: refetched";
      if (status.recovered) return "new session, nothing missed";
      return status.resumed ? "resumed, nothing missed" : "live";
  }
}
