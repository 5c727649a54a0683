/**
 * A sharing tab's `BroadcastChannel`s: the one every tab of the hub shares
 * (the holder's news, the tabs' requests), the tab's own (messages to it
 * alone), and one per tab it sends to when it holds the stream. All closed
 * when the tab leaves, so that a page in the back/forward cache hears nothing
 * (which would evict it).
 */
import type { TabId } from "../protocol/wire.js";
import type { DirectMessage, HolderMessage, RequestMessage, TabNames } from "./tabs.js";

/** The channels of one tab. */
export class TabChannels {
  readonly #names: TabNames;
  readonly #id: TabId;
  #shared: BroadcastChannel | undefined;
  #own: BroadcastChannel | undefined;
  readonly #tabs = new Map<string, BroadcastChannel>();

  constructor(names: TabNames, id: TabId) {
    this.#names = names;
    this.#id = id;
  }

  /** Opens the shared channel and the tab's own, with what each message is given to. */
  open(onShared: (data: unknown) => void, onDirect: (data: unknown) => void): void {
    this.#shared = new BroadcastChannel(this.#names.channel);
    this.#own = new BroadcastChannel(this.#names.tabChannel(this.#id));
    this.#shared.onmessage = (event) => onShared(event.data);
    this.#own.onmessage = (event) => onDirect(event.data);
  }

  /** To every other tab. */
  post(message: HolderMessage | RequestMessage): void {
    this.#shared?.postMessage(message);
  }

  /** To another tab alone. */
  sendTo(tab: string, message: DirectMessage): void {
    let channel = this.#tabs.get(tab);
    if (!channel) {
      channel = new BroadcastChannel(this.#names.tabChannel(tab));
      this.#tabs.set(tab, channel);
    }
    channel.postMessage(message);
  }

  /** Closes the channels to other tabs (the tab no longer holds the stream). */
  closeTabs(): void {
    for (const channel of this.#tabs.values()) channel.close();
    this.#tabs.clear();
  }

  /** Closes every channel: the tab left. */
  close(): void {
    this.#shared?.close();
    this.#own?.close();
    this.closeTabs();
  }
}
