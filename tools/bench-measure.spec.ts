import { formatCommandCosts, parseCommandStats } from './bench-measure';

describe('Redis command stats for the bench', () => {
  it('reads calls and usec per command, and the net byte counters', () => {
    const info = [
      '# Commandstats',
      'cmdstat_evalsha:calls=552,usec=1040000,usec_per_call=1884.06,rejected_calls=0,failed_calls=0',
      'cmdstat_hset:calls=1700,usec=470000,usec_per_call=276.47,rejected_calls=0,failed_calls=0',
      'cmdstat_client|setname:calls=3,usec=2,usec_per_call=0.67,rejected_calls=0,failed_calls=0',
      '# Stats',
      'total_net_input_bytes:102000000',
      'total_net_output_bytes:90000000',
      'total_net_repl_input_bytes:0',
    ].join('\r\n');
    const stats = parseCommandStats(info);
    expect(stats.get('evalsha')).toEqual({ calls: 552, usec: 1_040_000 });
    expect(stats.get('client|setname')).toEqual({ calls: 3, usec: 2 });
    expect(stats.get('net_input_bytes')).toEqual({ calls: 102_000_000, usec: 0 });
    expect(stats.get('net_output_bytes')).toEqual({ calls: 90_000_000, usec: 0 });
    expect(stats.size).toBe(5);
  });

  it('prints the top commands on one line, then the bytes in and out', () => {
    const line = formatCommandCosts(
      [
        { command: 'evalsha', calls: 552, usec: 1_040_000 },
        { command: 'hset', calls: 1700, usec: 470_000 },
        { command: 'net_input_bytes', calls: 102_000_000, usec: 0 },
        { command: 'net_output_bytes', calls: 90_000_000, usec: 0 },
      ],
      6,
    );
    expect(line).toBe('evalsha 1.04 s/552, hset 0.47 s/1.7k, in 102 MB, out 90 MB');
  });
});
