// A log-bucketed latency histogram (about 1% precision from 1 µs to 100 s):
// constant memory however many samples, and mergeable across processes.

const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(1e8) / LOG_GROWTH) + 1;

/** Sparse form sent over IPC: [bucket, count] pairs. */
export type HistogramJson = [number, number][];

export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;

  /** Records one value in µs (values under 1 µs count as 1 µs). */
  record(micros: number): void {
    const i = micros <= 1 ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(micros) / LOG_GROWTH));
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.count++;
  }

  toJSON(): HistogramJson {
    const out: HistogramJson = [];
    this.counts.forEach((c, i) => {
      if (c > 0) out.push([i, c]);
    });
    return out;
  }

  merge(json: HistogramJson): this {
    for (const [i, c] of json) {
      this.counts[i] = (this.counts[i] ?? 0) + c;
      this.count += c;
    }
    return this;
  }

  /** The value under which a fraction `q` (0…1) of samples fall, µs; NaN if empty. */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return GROWTH ** i;
    }
    return GROWTH ** (BUCKETS - 1);
  }
}

/** p50 and p99 of a histogram, in ms. */
export function latencyMs(h: Histogram): { p50: number; p99: number } {
  return { p50: h.quantile(0.5) / 1e3, p99: h.quantile(0.99) / 1e3 };
}
