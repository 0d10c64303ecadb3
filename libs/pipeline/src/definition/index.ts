export { type TableColumn, checkTransformColumns } from './columns';
export type {
  CompiledColumn,
  CompiledDedup,
  CompiledJoin,
  CompiledJoinSide,
  CompiledPipeline,
  CompiledSource,
} from './compiled';
export { exampleJoinPipeline, exampleOrdersPipeline } from './examples';
export { type DefinitionError, formatPath } from './issues';
export { type ContentType, type ParseDefinitionResult, parsePipelineDefinition } from './parse';
export { LIMITS, PIPELINE_ID_RE, type PipelineDefinition } from './schema';
export {
  type ClickHouseSink,
  REDACTED,
  SecretResolutionError,
  mapSecrets,
  redactDefinition,
  resolveDefinitionSecrets,
  resolveSinkSecrets,
  sealDefinitionSecrets,
} from './secrets';
export { type Destination, definitionDestinations, destinationErrors } from './destinations';
export {
  consumerFacet,
  keepRedactedSecrets,
  keepUnchangedSecrets,
  liveChangeConflicts,
} from './edit';
