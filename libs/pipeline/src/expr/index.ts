export {
  type CompileOptions,
  type CompileResult,
  type CompiledExpression,
  type EvalResult,
  type ExprInput,
  MAX_EXPRESSION_LENGTH,
  compileExpression,
} from './compile';
export { type ExpressionScope, JOIN_VARIABLES } from './engine';
export { ExpressionError, type ExpressionPhase, type SourcePosition } from './errors';
export { type ExprValue, type KeyValue, isKeyValue, keyText, toPlain } from './values';
