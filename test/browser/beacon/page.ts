/** The page of the cross-origin page-hide test: the client, on the hub named by `?hub=`. */
import { createNotifClient, type NotifClient } from "../../../client/index.js";

let client: NotifClient | undefined;
const hub = new URLSearchParams(location.search).get("hub") ?? "/notif";

(window as unknown as { harness: object }).harness = {
  start() {
    client = createNotifClient({ url: hub, share: false, withCredentials: false });
  },
  session: () => client?.session(),
  state: () => client?.state(),
};
