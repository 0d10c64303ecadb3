export {
  type CompileOptions,
  type CompileResult,
  type CompiledExpression,
  type EvalResult,
  type ExprInput,
  MAX_EXPRESSION_LENGTH,
  compileExpression,
} from './compile';
export {
  BUDGET_EXCEEDED,
  BUDGET_EXCEEDED_TEXT,
  EVALUATION_BUDGET,
  isBudgetExceeded,
} from './budget';
export { type ExpressionScope, JOIN_VARIABLES } from './engine';
export { MAX_COMPREHENSION_NESTING } from './guard';
export { ExpressionError, type ExpressionPhase, type SourcePosition } from './errors';
export { type ExprValue, type KeyValue, isKeyValue, keyText, toPlain } from './values';
