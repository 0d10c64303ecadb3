/** Injection token of the process's Telemetry (metrics registry, tracing, index retention). */
export const TELEMETRY = Symbol('Telemetry');
