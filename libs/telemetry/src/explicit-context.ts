import { type Context, type ContextManager, ROOT_CONTEXT } from '@opentelemetry/api';

/**
 * A context manager that propagates the active context through synchronous calls only
 * (`with`), never across awaits or callbacks: Sluice hands span contexts over explicitly
 * (traceparent strings, parent contexts built from them) and never reads the active one across
 * async boundaries. The SDK's default AsyncLocalStorage manager would, on Node 20, turn on
 * promise hooks for the whole process the first time the exporter runs inside a context, which
 * costs every await. Auto-instrumentations that rely on async propagation would need that
 * default manager back (see docs/observability.md).
 */
export class ExplicitContextManager implements ContextManager {
  private current: Context = ROOT_CONTEXT;

  active(): Context {
    return this.current;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const previous = this.current;
    this.current = context;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.current = previous;
    }
  }

  bind<T>(_context: Context, target: T): T {
    return target;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.current = ROOT_CONTEXT;
    return this;
  }
}
