import { expect } from "chai";
import { BACKOFF_DEFAULTS, makeBackoff, resolveBackoff } from "../../client/reconnect.js";
import { fakeClock } from "./clock.js";

describe("makeBackoff (reconnection delays)", () => {
  it("doubles the bound per attempt from retry, draws below it (full jitter), caps at maxRetry", () => {
    const clock = fakeClock(0.999);
    const backoff = makeBackoff({ retry: 100, maxRetry: 1_000, jitter: true }, clock);
    const bounds = Array.from({ length: 6 }, () => backoff.next());
    expect(bounds).to.deep.equal([99, 199, 399, 799, 999, 999]);
    clock.setRandom(0);
    expect(backoff.next(), "full jitter reaches 0").to.equal(0);
    clock.setRandom(0.5);
    expect(backoff.next()).to.equal(500);
    expect(backoff.attempts).to.equal(8);
  });

  it("starts over from retry after reset", () => {
    const backoff = makeBackoff({ retry: 100, maxRetry: 30_000, jitter: true }, fakeClock(0.5));
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.attempts).to.equal(0);
    expect(backoff.next()).to.equal(50);
  });

  it("without jitter waits the bound itself", () => {
    const backoff = makeBackoff({ retry: 2_000, maxRetry: 30_000, jitter: false }, fakeClock(0.1));
    expect(Array.from({ length: 6 }, () => backoff.next())).to.deep.equal([
      2_000, 4_000, 8_000, 16_000, 30_000, 30_000,
    ]);
  });

  it("stays finite after very many attempts", () => {
    const backoff = makeBackoff(BACKOFF_DEFAULTS, fakeClock(0.5));
    for (let i = 0; i < 5_000; i += 1) backoff.next();
    expect(backoff.next()).to.equal(15_000);
  });

  it("resolves defaults and refuses bad options with a clear error", () => {
    expect(resolveBackoff()).to.deep.equal({ retry: 2_000, maxRetry: 30_000, jitter: true });
    expect(resolveBackoff({ retry: 50, maxRetry: undefined })).to.deep.equal({
      retry: 50,
      maxRetry: 30_000,
      jitter: true,
    });
    expect(() => resolveBackoff({ retry: -1 })).to.throw(TypeError, /retry must be/);
    expect(() => resolveBackoff({ retry: Number.NaN })).to.throw(TypeError, /retry must be/);
    expect(() => resolveBackoff({ retry: 5_000, maxRetry: 1_000 })).to.throw(
      TypeError,
      /maxRetry must be/,
    );
  });
});
