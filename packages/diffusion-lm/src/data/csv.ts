// RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF), enough for the E2E files.

import { InvalidArgumentError, describe } from '@denoise/core';

/** Parses CSV text into rows of fields. An unterminated quoted field is an error. */
export function parseCsv(text: string): string[][] {
  if (typeof text !== 'string') throw new InvalidArgumentError(`parseCsv: text must be a string, got ${describe(text)}`);
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let quoteLine = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
    } else if (c === '"' && field.length === 0) {
      quoted = true;
      quoteLine = line;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      line++;
    } else if (c !== '\r') field += c;
  }
  if (quoted) throw new InvalidArgumentError(`parseCsv: the quoted field opened on line ${quoteLine} is never closed`);
  if (field.length > 0 || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
