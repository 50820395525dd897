// Preloaded into benchmarked server processes (node --import ./bench/probe.mjs): reports event-loop delay
// and memory to the parent over IPC, so the product needs no metrics endpoint for the benchmark.
import { monitorEventLoopDelay } from 'node:perf_hooks';

// The histogram records the time between ticks of a `RESOLUTION_MS` timer, so an idle loop reads
// RESOLUTION_MS; the delay (how late the timer ran) is the reading minus it.
const RESOLUTION_MS = 5;
const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
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
      eventLoopP99Ms: Math.max(0, histogram.percentile(99) / 1e6 - RESOLUTION_MS),
      eventLoopMaxMs: Math.max(0, histogram.max / 1e6 - RESOLUTION_MS),
      rssMb: process.memoryUsage().rss / 2 ** 20,
      peakRssMb: peakRss / 2 ** 20,
    });
  }
});
// Keep IPC from holding the process open after SIGTERM.
process.channel?.unref();
