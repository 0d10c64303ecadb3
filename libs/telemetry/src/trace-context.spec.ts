import { formatTraceParent, parseTraceParent, unsampled } from './trace-context';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('traceparent', () => {
  it('parses and formats W3C version 00', () => {
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-01`)).toEqual({
      traceId: TRACE,
      spanId: SPAN,
      sampled: true,
    });
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-00`)?.sampled).toBe(false);
    expect(formatTraceParent(TRACE, SPAN, true)).toBe(`00-${TRACE}-${SPAN}-01`);
  });

  it('rejects malformed, all-zero and ff-version contexts', () => {
    for (const bad of [
      undefined,
      '',
      'garbage',
      `00-${TRACE}-${SPAN}-0`,
      `00-${'0'.repeat(32)}-${SPAN}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `ff-${TRACE}-${SPAN}-01`,
      `00-${TRACE.replace('4', 'x')}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-01-extra`,
    ]) {
      expect(parseTraceParent(bad)).toBeUndefined();
    }
  });

  it('marks a context unsampled whatever its other flags, and drops a malformed one', () => {
    expect(unsampled(`00-${TRACE}-${SPAN}-01`)).toBe(`00-${TRACE}-${SPAN}-00`);
    expect(unsampled(`00-${TRACE}-${SPAN}-03`)).toBe(`00-${TRACE}-${SPAN}-00`);
    expect(unsampled(`00-${TRACE}-${SPAN}-00`)).toBe(`00-${TRACE}-${SPAN}-00`);
    expect(unsampled('garbage')).toBeUndefined();
  });
});
