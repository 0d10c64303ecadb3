import { SpanStatusCode, trace } from '@opentelemetry/api';
import { tracing as sdk } from '@opentelemetry/sdk-node';
import { BatchLog } from './batch-log';
import { EventSampler } from './sampling';
import { type TracedEvent, Tracing } from './tracing';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const tp = (n: number, flags = '01') =>
  `00-${TRACE.slice(0, 28)}${String(n).padStart(4, '0')}-00f067aa0ba902b7-${flags}`;

describe('Tracing', () => {
  const exporter = new sdk.InMemorySpanExporter();
  const provider = new sdk.BasicTracerProvider({
    spanProcessors: [new sdk.SimpleSpanProcessor(exporter)],
  });

  beforeAll(() => trace.setGlobalTracerProvider(provider));
  afterAll(async () => {
    trace.disable();
    await provider.shutdown();
  });
  beforeEach(() => exporter.reset());

  const make = (name: 'always_off' | 'traceidratio' | 'parentbased_always_on', maxLinks = 2) =>
    new Tracing({ enabled: true, sampler: new EventSampler(name, 0), maxLinks });

  it.each(['always_off', 'traceidratio'] as const)(
    '%s at ratio 0 marks producer-sampled contexts unsampled (flags 01 and 03), so no span follows',
    (name) => {
      const tracing = make(name);
      const events: TracedEvent[] = [
        { offset: 1, timestamp: 1, traceparent: tp(1) },
        { offset: 2, timestamp: 1, traceparent: tp(2, '03') },
        { offset: 3, timestamp: 1 },
      ];
      expect(tracing.consume('p', 't', 0, new Map([[0, events]]))).toBeUndefined();
      expect(events.map((e) => e.traceparent)).toEqual([tp(1, '00'), tp(2, '00'), undefined]);
      for (const event of events) {
        expect(tracing.processed('p', 0, 't', event, 'written')).toBeUndefined();
      }
      expect(exporter.getFinishedSpans()).toHaveLength(0);
    },
  );

  it('continues the first written event in the batch span, links the others (capped), each with a batched span back', () => {
    const tracing = make('parentbased_always_on', 2);
    const log = new BatchLog({ tracing, pipeline: 'p', partition: 0, indexEvents: false });
    const events: TracedEvent[] = [1, 2, 3, 4, 5].map((n) => ({
      offset: n,
      timestamp: 1,
      traceparent: tp(n),
    }));
    const consumed = tracing.consume('p', 't', 0, new Map([[0, events]]));
    consumed?.end();
    log.outcome('t', events[0]!, 'filtered', undefined);
    for (const event of events.slice(1)) log.outcome('t', event, 'written', undefined);
    // Process spans stay open until the checkpoint commits.
    expect(exporter.getFinishedSpans().filter((s) => s.name === 'sluice.process')).toHaveLength(0);

    const { parent, links, dropped } = log.batchLinks;
    const batch = tracing.startBatch({ 'sluice.batch.id': 'p.0.1.1' }, parent, links, dropped)!;
    batch.end();
    log.committed();

    const spans = exporter.getFinishedSpans();
    const named = (name: string) => spans.filter((s) => s.name === name);
    const process = named('sluice.process');
    expect(process).toHaveLength(5);
    const processOf = (n: number) =>
      process.find((s) => s.spanContext().traceId === events[n]!.traceparent!.slice(3, 35))!;
    const [batchSpan] = named('sluice.batch');
    // The batch span is in the first written event's trace, child of its process span.
    expect(batchSpan?.spanContext().traceId).toBe(processOf(1).spanContext().traceId);
    expect(batchSpan?.parentSpanContext?.spanId).toBe(processOf(1).spanContext().spanId);
    expect(batchSpan?.links.map((l) => l.context.spanId)).toEqual([
      processOf(2).spanContext().spanId,
      processOf(3).spanContext().spanId,
    ]);
    expect(batchSpan?.attributes['sluice.batch.links_dropped']).toBe(1);
    const batched = named('sluice.batched');
    expect(batched.map((s) => s.parentSpanContext?.spanId)).toEqual([
      processOf(2).spanContext().spanId,
      processOf(3).spanContext().spanId,
    ]);
    for (const s of batched) {
      expect(s.links.map((l) => l.context.spanId)).toEqual([batchSpan?.spanContext().spanId]);
    }
    expect(processOf(0).attributes['sluice.outcome']).toBe('filtered');
    expect(processOf(0).attributes['sluice.reason']).toBe('filter expression was false');
  });

  it('ends open process spans with an error when the checkpoint fails', () => {
    const tracing = make('parentbased_always_on');
    const log = new BatchLog({ tracing, pipeline: 'p', partition: 0, indexEvents: false });
    const event: TracedEvent = { offset: 1, timestamp: 1, traceparent: tp(1) };
    log.outcome('t', event, 'written', undefined);
    log.reset('checkpoint failed');
    const [span] = exporter.getFinishedSpans();
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'checkpoint failed' });
    expect(log.batchLinks.parent).toBeUndefined();
  });
});
