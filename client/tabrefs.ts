/**
 * Listens of the tabs sharing one session, counted across tabs: which tabs
 * want a topic (to relay its events to them only) and when a topic stops
 * being wanted by any tab (to unlisten it on the server). Pure: the tab that
 * holds the stream keeps one, with a value per (tab, topic).
 */
import type { Topic } from "../protocol/keys.js";

export class TabRefs<V> {
  readonly #byTab = new Map<string, Map<Topic, V>>();
  readonly #byTopic = new Map<Topic, Set<string>>();

  /** Tabs known (joined, not left), with or without listens. */
  get tabs(): number {
    return this.#byTab.size;
  }

  has(tab: string): boolean {
    return this.#byTab.has(tab);
  }

  /** Tab ids known. */
  tabIds(): string[] {
    return [...this.#byTab.keys()];
  }

  /** Makes `tab` known (a tab without listens still shares the session). */
  join(tab: string): void {
    if (!this.#byTab.has(tab)) this.#byTab.set(tab, new Map());
  }

  /** Adds `topic` for `tab`; false (and nothing changes) when it had it already. */
  add(tab: string, topic: Topic, value: V): boolean {
    this.join(tab);
    const topics = this.#byTab.get(tab) as Map<Topic, V>;
    if (topics.has(topic)) return false;
    topics.set(topic, value);
    let tabs = this.#byTopic.get(topic);
    if (!tabs) {
      tabs = new Set();
      this.#byTopic.set(topic, tabs);
    }
    tabs.add(tab);
    return true;
  }

  get(tab: string, topic: Topic): V | undefined {
    return this.#byTab.get(tab)?.get(topic);
  }

  /** Removes `topic` of `tab`; its value, or undefined when it had none. */
  remove(tab: string, topic: Topic): V | undefined {
    const topics = this.#byTab.get(tab);
    const value = topics?.get(topic);
    if (!topics?.has(topic)) return undefined;
    topics.delete(topic);
    const tabs = this.#byTopic.get(topic);
    tabs?.delete(tab);
    if (tabs?.size === 0) this.#byTopic.delete(topic);
    return value;
  }

  /** The tabs that want `topic`. */
  tabsOf(topic: Topic): ReadonlySet<string> {
    return this.#byTopic.get(topic) ?? EMPTY;
  }

  /** Does any tab want `topic`? */
  wanted(topic: Topic): boolean {
    return this.#byTopic.has(topic);
  }

  /** The topics of `tab` and their values. */
  topicsOf(tab: string): ReadonlyMap<Topic, V> {
    return this.#byTab.get(tab) ?? new Map();
  }

  /** Forgets `tab`; returns what it had, so that each can be released. */
  leave(tab: string): [Topic, V][] {
    const topics = [...this.topicsOf(tab)];
    for (const [topic] of topics) this.remove(tab, topic);
    this.#byTab.delete(tab);
    return topics;
  }

  /**
   * What to change so that `tab` has exactly `topics` (a tab's whole state,
   * as it sends it to a new stream holder): the topics to add, and the ones
   * to remove (with their values).
   */
  diff(tab: string, topics: Iterable<Topic>): { add: Topic[]; remove: [Topic, V][] } {
    const want = new Set(topics);
    const have = this.topicsOf(tab);
    const add = [...want].filter((topic) => !have.has(topic));
    const remove = [...have].filter(([topic]) => !want.has(topic));
    return { add, remove };
  }
}

const EMPTY: ReadonlySet<string> = new Set();
