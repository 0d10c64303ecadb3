/** Prints rows as kubectl does: a header, columns padded to their widest cell, 3 spaces apart. */
export function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  process.stdout.write([header, ...rows].map(format).join('\n') + '\n');
}
