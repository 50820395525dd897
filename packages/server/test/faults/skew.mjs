// Preloaded (NODE_OPTIONS=--import) into a server process to shift its own clock by
// AVAILSYNC_TEST_CLOCK_SKEW_MS: Date.now() and new Date() lie, as a machine with a wrong clock would.
// Used to prove no node's own clock enters a lease decision on PostgreSQL.
const skew = Number(process.env.AVAILSYNC_TEST_CLOCK_SKEW_MS || 0);
if (skew) {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  class SkewedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(realNow() + skew);
      else super(...args);
    }
    static now() {
      return realNow() + skew;
    }
  }
  globalThis.Date = SkewedDate;
}
