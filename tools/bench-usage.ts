/** `npm run bench -- --help`: the modes and flags (docs/performance.md, "Method", has the rest). */
export const BENCH_USAGE = `npm run bench -- [flags]   (Sluice against its peers; docs/performance.md, "Method")

Modes:
  (default)                 comparison: throughput over --events, then latency at a fixed rate
  --duration 5m --rate R    sustained: one rate held, RSS and lag sampled every 5 s
  --find-max-sustained      each system's highest live rate with bounded lag and p99 < 1.5 s
                            (naive and sluice unless --systems), probes alternating per system

Data and systems:
  --events 1000000 --event-size 150 --dup-share 0.1 --partitions 48 --record-batch 1000
  --systems naive,kafka-engine,sluice,sluice-split   --producer wire|kafkajs
Phases:
  --latency-rate R --latency-seconds 20 --latency-give-up-s 30 --repeat N --timeout-s 900
  --search-hold 60s --search-start 40000 --search-max 250000 --search-probes 6
  --search-resolution 0.1
Tuning:
  --sluice-partitions 16 --sluice-max-rows 10000 --sluice-max-delay 1s --dedup-window 24h
  --sluice-env K=V,K2=V2 --kafka-engine-flush-ms 1000 --kafka-engine-consumers 2
Output:
  --out NAME --cpu-prof --keep-stack
`;
