// Preloaded into benchmarked server processes (node --import ./bench/probe.mjs): reports event-loop delay
// and memory to the parent over IPC, so the product needs no metrics endpoint for the benchmark.
import { monitorEventLoopDelay } from 'node:perf_hooks';

const histogram = monitorEventLoopDelay({ resolution: 5 });
histogram.enable();
let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 100);
sampler.unref();

process.on('message', (msg) => {
  if (msg === 'reset') {
    histogram.reset();
    peakRss = process.memoryUsage().rss;
  } else if (msg === 'stats') {
    process.send?.({
      eventLoopP99Ms: histogram.percentile(99) / 1e6,
      eventLoopMaxMs: histogram.max / 1e6,
      rssMb: process.memoryUsage().rss / 2 ** 20,
      peakRssMb: peakRss / 2 ** 20,
    });
  }
});
// Keep IPC from holding the process open after SIGTERM.
process.channel?.unref();
