import { describe, expect, it } from 'vitest';
import { DelimitedTextError, parseDelimitedText } from './delimited-text.js';

describe('parseDelimitedText', () => {
  it('takes ; when the header has one, with quotes, doubled quotes, CRLF, a BOM and blank lines', () => {
    const text = '\uFEFFid;dev_eui;address\r\nbin-1; 24E124713C215A01;"Dam 1; north ""side"""\r\n\r\nbin-2;24E124713C215A02;Damrak 3\r\n';
    expect(parseDelimitedText(text)).toEqual({
      delimiter: ';',
      header: ['id', 'dev_eui', 'address'],
      rows: [
        { line: 2, cells: ['bin-1', '24E124713C215A01', 'Dam 1; north "side"'] },
        { line: 4, cells: ['bin-2', '24E124713C215A02', 'Damrak 3'] },
      ],
    });
  });

  it('takes , when the header has no ;, and keeps a line break inside quotes in one cell', () => {
    const parsed = parseDelimitedText('id,note\nbin-1,"two\nlines"\nbin-2,x');
    expect(parsed.delimiter).toBe(',');
    expect(parsed.rows).toEqual([
      { line: 2, cells: ['bin-1', 'two\nlines'] },
      { line: 4, cells: ['bin-2', 'x'] },
    ]);
  });

  it('keeps empty cells, so a short row can be told from a full one', () => {
    expect(parseDelimitedText('a;b;c\n;x;\n1;2\n').rows.map((r) => r.cells)).toEqual([['', 'x', ''], ['1', '2']]);
  });

  it('names the line of a quote that is never closed, and refuses an empty file', () => {
    expect(() => parseDelimitedText('id;name\nbin-1;"Dam 1\n')).toThrow(new DelimitedTextError('line 2: a quoted field is never closed'));
    expect(() => parseDelimitedText('\n\n')).toThrow(/a header row is required/);
  });
});
