import type { Row } from './row-builder';

/** Characters of text gathered before they are encoded into the buffer in one native call. */
const SPILL_CHARS = 16 * 1024;
const INITIAL_BYTES = 64 * 1024;
/** A buffer grown past this by one large batch is not kept for the next one. */
const KEEP_BYTES = 8 * 1024 * 1024;

/**
 * Rows serialized as JSONEachRow text (one JSON object per line) as they are produced, encoded
 * into one reusable byte buffer. An open batch then holds one buffer instead of an object per
 * row (which the garbage collector had to copy and promote until the flush), and the flush hands
 * the bytes to the outbox without another pass over the rows.
 */
export class JsonLines {
  private buf = Buffer.allocUnsafe(INITIAL_BYTES);
  private used = 0;
  /** Lines not yet encoded: short strings concatenated, encoded every SPILL_CHARS. */
  private pending = '';
  private rows = 0;

  /** Rows appended since the last clear. */
  get count(): number {
    return this.rows;
  }

  /** About the bytes of the text so far (pending text counted one byte a character). */
  get size(): number {
    return this.used + this.pending.length;
  }

  append(row: Row): void {
    this.appendLine(`${JSON.stringify(row)}\n`);
  }

  /** One row's JSON text with its newline, as `RowBuilder.jsonLine` writes it. */
  appendLine(line: string): void {
    this.pending += line;
    this.rows += 1;
    if (this.pending.length >= SPILL_CHARS) this.spill();
  }

  /** The text so far as bytes: a view valid until the next append or clear. */
  bytes(): Buffer {
    this.spill();
    return this.buf.subarray(0, this.used);
  }

  /** The rows back as objects (tests, dead letters). */
  toRows(): Row[] {
    const text = this.bytes().toString('utf8');
    const rows: Row[] = [];
    for (const line of text.split('\n')) if (line !== '') rows.push(JSON.parse(line) as Row);
    return rows;
  }

  clear(): void {
    this.used = 0;
    this.pending = '';
    this.rows = 0;
    if (this.buf.length > KEEP_BYTES) this.buf = Buffer.allocUnsafe(INITIAL_BYTES);
  }

  private spill(): void {
    const text = this.pending;
    if (text === '') return;
    // A UTF-16 code unit takes at most 3 bytes in UTF-8 (a surrogate pair 4 for 2 units).
    const need = this.used + 3 * text.length;
    if (need > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(need, 2 * this.buf.length));
      this.buf.copy(next, 0, 0, this.used);
      this.buf = next;
    }
    this.used += this.buf.write(text, this.used, 'utf8');
    this.pending = '';
  }
}
