import { type Context, type ContextManager, ROOT_CONTEXT } from '@opentelemetry/api';

/**
 * A context manager that keeps no active context: Sluice hands span contexts over explicitly
 * (traceparent strings, parent contexts built from them) and never reads the active one. The
 * SDK's default AsyncLocalStorage manager would, on Node 20, turn on promise hooks for the whole
 * process the first time the exporter runs inside a context, which costs every await.
 */
export class ExplicitContextManager implements ContextManager {
  active(): Context {
    return ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    _context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return fn.call(thisArg, ...args);
  }

  bind<T>(_context: Context, target: T): T {
    return target;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    return this;
  }
}
