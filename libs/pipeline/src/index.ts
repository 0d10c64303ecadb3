export * from './convert';
// definition/ and convert/ each describe table columns; the converter's TableColumn is the one
// callers build rows with, the definition's is exported under its own name.
export {
  type TableColumn as DefinitionTableColumn,
  checkTransformColumns,
  consumerFacet,
  keepRedactedSecrets,
  keepUnchangedSecrets,
  liveChangeConflicts,
  type CompiledColumn,
  type CompiledDedup,
  type CompiledJoin,
  type CompiledJoinSide,
  type CompiledPipeline,
  type CompiledSource,
  type DefinitionError,
  type Destination,
  definitionDestinations,
  destinationErrors,
  exampleJoinPipeline,
  exampleOrdersPipeline,
  formatPath,
  type ContentType,
  type ParseDefinitionResult,
  parsePipelineDefinition,
  LIMITS,
  PIPELINE_ID_RE,
  type PipelineDefinition,
  REDACTED,
  redactDefinition,
  SecretResolutionError,
  mapSecrets,
  resolveDefinitionSecrets,
  resolveSinkSecrets,
  type ClickHouseSink,
  sealDefinitionSecrets,
} from './definition';
export * from './batch-deadline';
export * from './security/allowed-hosts';
export * from './security/secret-box';
export * from './duration';
export * from './expr';
export * from './mailbox';
