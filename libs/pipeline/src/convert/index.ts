export { compileConverter, type Converter } from './converters';
export { ConversionError, SchemaError, TypeParseError } from './errors';
export { JsonLines } from './json-lines';
export { OMIT_COLUMN, RowBuilder, type Row, type RowMaker, type TableColumn } from './row-builder';
export { type ChType, isNullable, parseType } from './types';
