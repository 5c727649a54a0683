/**
 * Recovery by position for a tab that joined the holder too late for the
 * events it keeps (SPEC §6, §7): frozen while another tab took over, it
 * missed events of an older session, or of this one before what is held.
 * The holder asks the server to replay each of the tab's keys after the
 * tab's position (`since` with `replay`, even for a key the session listens
 * to already): the replay reaches every tab on the key, the others drop
 * what they had by position, and the late tab takes, in order, what it
 * missed. No I/O of its own: it calls `send`.
 */
import type { Topic } from "../protocol/keys.js";
import type { LostKey } from "../protocol/wire.js";
import type { Send } from "./requests.js";
import type { DirectMessage, Replayed, TabError, TabListen } from "./tabs.js";

/** What a replay needs of the holder. */
export interface TabReplayHost {
  readonly term: number;
  readonly send: Send;
  /** The session the stream holds now (undefined: none, or handed over). */
  session(): string | undefined;
  /** Settles once the holder's own listen of the tab's topic was answered (its error, if any). */
  ready(tab: string, topic: Topic): Promise<TabError | undefined> | undefined;
  sendTo(tab: string, message: DirectMessage): void;
}

/**
 * Has `listens` (the tab's confirmed ones) replayed for `tab`: first tells
 * the tab which keys (their later notifications then wait for the replay),
 * then what the server answered, and which keys are lost.
 */
export function replayForTab(
  host: TabReplayHost,
  tab: string,
  listens: readonly TabListen[],
): void {
  if (listens.length === 0) return;
  const { term } = host;
  const placed = listens.filter((listen) => listen.pos !== undefined);
  host.sendTo(tab, { type: "replaying", term, topics: placed.map((listen) => listen.topic) });
  void ask(host, tab, placed).then((items) => {
    const recovered = new Set(items.filter((item) => item.recovered).map((item) => item.topic));
    const lost: LostKey[] = listens
      .filter((listen) => !recovered.has(listen.topic))
      .map(({ item }) => ({ notifier: item.notifier, key: item.key }));
    host.sendTo(tab, { type: "replayed", term, items, lost });
  });
}

/** Items per request, as the stream client batches them (well under the server's body limit). */
const BATCH = 100;

const failed = (of: readonly TabListen[]): Replayed[] =>
  of.map(({ topic }) => ({ topic, recovered: false, pos: undefined }));

/** The server's answer for each of `listens`; not recovered when anything failed. */
async function ask(
  host: TabReplayHost,
  tab: string,
  listens: readonly TabListen[],
): Promise<Replayed[]> {
  // After the holder's own listens: asked while the session joins a key, the replay is its join's.
  const errors = await Promise.all(listens.map(({ topic }) => host.ready(tab, topic)));
  // Of the keys the tab still listens to (a replay item listens to nothing by itself).
  const asked = listens.filter(
    ({ topic }, i) => errors[i] === undefined && host.ready(tab, topic) !== undefined,
  );
  const answers: Replayed[] = [];
  for (let i = 0; i < asked.length; i += BATCH)
    answers.push(...(await askBatch(host, asked.slice(i, i + BATCH))));
  return [...answers, ...failed(listens.filter((listen) => !asked.includes(listen)))];
}

async function askBatch(host: TabReplayHost, listens: readonly TabListen[]): Promise<Replayed[]> {
  const session = host.session();
  if (session === undefined) return failed(listens);
  const items = listens.map(({ item, pos }) => ({
    notifier: item.notifier,
    key: item.key,
    since: pos ?? null,
    replay: true,
  }));
  try {
    const result = await host.send("/listen", session, items);
    if (typeof result !== "object" || host.session() !== session) return failed(listens);
    return listens.map(({ topic }, i) => {
      const answer = result.items[i];
      return { topic, recovered: answer?.recovered === true, pos: answer?.pos };
    });
  } catch {
    return failed(listens); // refused, or the network: the tab is told these keys are lost
  }
}
