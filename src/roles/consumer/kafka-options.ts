/** The consumer group of a pipeline; the admin API reads lag from the same group. */
export function groupIdOf(pipelineId: string): string {
  return `sluice.${pipelineId}`;
}
