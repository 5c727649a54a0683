/**
 * sse-notif/metrics: a hub's figures as prom-client metrics. Values are read
 * from the hub when the registry is scraped (collect callbacks, no timer);
 * labels are notifier names and fixed words only, never keys or identities.
 */
import { Counter, Gauge, register as globalRegister, Histogram, type Registry } from "prom-client";
import type { Hub } from "./hub.js";
import { type HubProbe, probeOf } from "./probe.js";

/** Options of {@link collectMetrics}. */
export interface MetricsOptions {
  /**
   * Where the metrics are registered.
   * @default prom-client's global `register`
   */
  register?: Registry;
  /**
   * Put before every metric name; two hubs on one registry need two prefixes.
   * @default "sse_notif_"
   */
  prefix?: string;
}

/**
 * How long a `notify` takes, s: a local one is done in microseconds, one
 * through Redis takes a round trip.
 */
const NOTIFY_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

type Stat = Exclude<keyof ReturnType<HubProbe["stats"]>, "bus">;

function gauges(probe: HubProbe, name: (s: string) => string, registers: Registry[]) {
  const gauge = (metric: string, help: string, stat: Stat) =>
    new Gauge({
      name: name(metric),
      help,
      registers,
      collect() {
        this.set(probe.stats()[stat]);
      },
    });
  gauge("sessions", "Live sessions on this node, with or without an open stream.", "sessions");
  gauge("streams", "Open SSE streams on this node.", "streams");
  gauge("keys", "Distinct (notifier, key) with at least one listener on this node.", "keys");
  gauge("listens", "(session, notifier, key) listens on this node.", "listens");
  new Gauge({
    name: name("bus_up"),
    help: "1 while the bus works (or is in-process), 0 while it is degraded.",
    registers,
    collect() {
      this.set(probe.stats().bus === "degraded" ? 0 : 1);
    },
  });
}

/** A counter whose values are read from the hub at each scrape. */
function liveCounter(
  config: { name: string; help: string; labelNames?: string[]; registers: Registry[] },
  read: () => Iterable<readonly [Record<string, string> | undefined, number]>,
) {
  return new Counter({
    ...config,
    collect() {
      this.reset();
      for (const [labels, value] of read()) {
        if (labels) this.inc(labels, value);
        else this.inc(value);
      }
    },
  });
}

/** Counters of events, streams and recoveries. */
function counters(probe: HubProbe, name: (s: string) => string, registers: Registry[]) {
  liveCounter(
    { name: name("events_sent_total"), help: "Notification events written.", registers },
    () => [[undefined, probe.stats().sent]],
  );
  liveCounter(
    {
      name: name("events_dropped_total"),
      help: "Events a session never got (evicted before it resumed, or lost with a cut stream).",
      registers,
    },
    () => [[undefined, probe.stats().dropped]],
  );
  liveCounter(
    {
      name: name("streams_cut_total"),
      help: "Streams ended, by reason: client (it left), replaced (it reconnected), slow (over maxBufferedBytes), evicted (fell behind retention), closing (session or hub ended), failed (a write threw).",
      labelNames: ["reason"],
      registers,
    },
    () => Object.entries(probe.cuts).map(([reason, n]) => [{ reason }, n] as const),
  );
  liveCounter(
    {
      name: name("recoveries_total"),
      help: "Listens with a position (since) answered: recovered from history, or lost.",
      labelNames: ["result"],
      registers,
    },
    () => Object.entries(probe.recoveries).map(([result, n]) => [{ result }, n] as const),
  );
}

/** Counters per notifier. */
function notifierCounters(probe: HubProbe, name: (s: string) => string, registers: Registry[]) {
  const perNotifier = (metric: string, help: string, pick: "notifies" | "prepareErrors") =>
    liveCounter({ name: name(metric), help, labelNames: ["notifier"], registers }, () =>
      [...probe.notifiers()].map(([notifier, counts]) => [{ notifier }, counts[pick]] as const),
    );
  perNotifier("notifies_total", "notify calls on this node.", "notifies");
  perNotifier(
    "prepare_errors_total",
    "prepare calls on this node that threw, rejected or timed out (that identity was skipped).",
    "prepareErrors",
  );
}

/**
 * Registers the hub's metrics (SPEC §9) on a prom-client registry: gauges
 * `sessions`, `streams`, `keys`, `listens`, `bus_up`; counters
 * `events_sent_total`, `events_dropped_total`, `streams_cut_total{reason}`,
 * `recoveries_total{result}`, `notifies_total{notifier}`,
 * `prepare_errors_total{notifier}`; histogram
 * `notify_duration_seconds{notifier}`. Registering twice on one registry with
 * one prefix throws.
 * @example
 * collectMetrics(hub);
 * app.get("/metrics", async (_req, res) => {
 *   res.type(register.contentType).send(await register.metrics());
 * });
 */
export function collectMetrics<Identity>(hub: Hub<Identity>, options: MetricsOptions = {}): void {
  const probe = probeOf(hub);
  const { register = globalRegister, prefix = "sse_notif_" } = options;
  const name = (metric: string) => `${prefix}${metric}`;
  if (register.getSingleMetric(name("sessions"))) {
    throw new Error(
      `sse-notif: metrics named ${name("…")} are already registered: give each hub its own prefix`,
    );
  }
  const registers = [register];
  gauges(probe, name, registers);
  counters(probe, name, registers);
  notifierCounters(probe, name, registers);
  const durations = new Histogram({
    name: name("notify_duration_seconds"),
    help: "Time from notify() to its promise settling: queued here and accepted by the bus.",
    labelNames: ["notifier"],
    buckets: NOTIFY_BUCKETS,
    registers,
  });
  probe.observeNotifies((notifier, seconds) => durations.observe({ notifier }, seconds));
}
