// Checks against the target table that need ClickHouse to answer: the caller runs DESCRIBE TABLE
// (or reads system.columns) and hands the columns here, so the rules stay pure and testable.
import type { TableColumn } from '../convert';
import type { DefinitionError } from './issues';
import { formatPath } from './issues';
import type { PipelineDefinition } from './schema';

// The same DESCRIBE TABLE result the row converter is built from.
export type { TableColumn };

// ClickHouse computes these itself and refuses them in an INSERT column list.
const NOT_INSERTABLE = new Set(['MATERIALIZED', 'ALIAS']);

/** Errors for `transform.columns.<name>` entries the table cannot take. */
export function checkTransformColumns(
  definition: Pick<PipelineDefinition, 'transform'>,
  columns: readonly TableColumn[],
): DefinitionError[] {
  const byName = new Map(columns.map((c) => [c.name, c]));
  const errors: DefinitionError[] = [];
  for (const name of Object.keys(definition.transform?.columns ?? {})) {
    const path = formatPath(['transform', 'columns', name]);
    const column = byName.get(name);
    if (!column) {
      const lower = name.toLowerCase();
      const near = columns.find((c) => c.name.toLowerCase() === lower);
      const hint = near ? `; did you mean "${near.name}"?` : '';
      errors.push({ path, message: `column "${name}" does not exist in the table${hint}` });
    } else if (NOT_INSERTABLE.has(column.defaultKind.toUpperCase())) {
      errors.push({
        path,
        message: `column "${name}" is ${column.defaultKind.toUpperCase()} and cannot be written`,
      });
    }
  }
  return errors;
}
