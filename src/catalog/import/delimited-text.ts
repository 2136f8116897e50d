/**
 * Reads a spreadsheet export the way The Things Stack's CSV device import does
 * (`pkg/devicetemplates/ttscsv.go`): the delimiter is `;` when the header line holds one, else `,`;
 * fields may be quoted (`""` is a quote inside one); leading spaces of a field are dropped; blank
 * lines are skipped; a header row is required.
 */

/** One data row and the line of the file it starts on (1 = the header). */
export interface DelimitedRow {
  readonly line: number;
  readonly cells: readonly string[];
}

export interface DelimitedText {
  readonly delimiter: ';' | ',';
  readonly header: readonly string[];
  readonly rows: readonly DelimitedRow[];
}

/** A file that cannot be read as rows at all (an unterminated quote); names the line. */
export class DelimitedTextError extends Error {}

export function parseDelimitedText(text: string): DelimitedText {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const firstLine = body.slice(0, body.search(/\r?\n|$/));
  const delimiter = firstLine.includes(';') ? ';' : ',';
  const records = splitRecords(body, delimiter);
  const [header, ...rows] = records;
  if (header === undefined) throw new DelimitedTextError('the file is empty: a header row is required (e.g. id;dev_eui;join_eui;latitude;longitude)');
  return { delimiter, header: header.cells.map((c) => c.trim()), rows };
}

function splitRecords(text: string, delimiter: string): DelimitedRow[] {
  const records: DelimitedRow[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const start = line;
    const cells: string[] = [];
    let atLineEnd = false;
    while (!atLineEnd) {
      while (text[i] === ' ' || text[i] === '\t') i++;
      let cell = '';
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= text.length) throw new DelimitedTextError(`line ${start}: a quoted field is never closed`);
          const c = text[i]!;
          if (c === '"') {
            if (text[i + 1] === '"') {
              cell += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          cell += c;
          i++;
        }
        // Text after the closing quote up to the delimiter is kept, as a lenient reader would.
        while (i < text.length && text[i] !== delimiter && text[i] !== '\n' && text[i] !== '\r') cell += text[i++];
      } else {
        while (i < text.length && text[i] !== delimiter && text[i] !== '\n' && text[i] !== '\r') cell += text[i++];
      }
      cells.push(cell);
      if (text[i] === delimiter) {
        i++;
        continue;
      }
      if (text[i] === '\r') i++;
      if (text[i] === '\n') i++;
      line++;
      atLineEnd = true;
    }
    if (!(cells.length === 1 && cells[0]!.trim() === '')) records.push({ line: start, cells });
  }
  return records;
}
