import { describe, expect, it } from 'vitest';
import { fieldKind, pickRefused, readRefusal } from './refused-lines.js';

// Messages as InfluxDB 1.6 answered them here (writer-refusals.test.ts gets them from the real server),
// and as 2.x wraps the same words in its 422 answer.
describe('readRefusal', () => {
  it.each([
    {
      message: 'partial write: points beyond retention policy dropped=3',
      refusal: { cause: 'retention', dropped: 3 },
    },
    {
      message: 'failure writing points to database: partial write: points beyond retention policy dropped=12',
      refusal: { cause: 'retention', dropped: 12 },
    },
    {
      message: 'partial write: field type conflict: input field "f" on measurement "m" is type integer, already exists as type float dropped=2',
      refusal: { cause: 'field-type', dropped: 2, field: 'f', measurement: 'm', kind: 'integer' },
    },
    {
      message:
        'failure writing points to database: partial write: field type conflict: input field "voltage" on measurement "street light" is type float, already exists as type integer dropped=1',
      refusal: { cause: 'field-type', dropped: 1, field: 'voltage', measurement: 'street light', kind: 'float' },
    },
    {
      message: 'partial write: max-values-per-tag limit exceeded (100000/100000): measurement="m" tag="d" value="x" dropped=7',
      refusal: { cause: 'other', dropped: 7 },
    },
    { message: 'request entity too large', refusal: { cause: 'other', dropped: undefined } },
  ])('$message', ({ message, refusal }) => {
    expect(readRefusal(message)).toEqual(refusal);
  });

  it('reads each line InfluxDB could not parse, with its own words, whether other lines were written or not', () => {
    const partial =
      "partial write: unable to parse 'm,d=b f= 1796314391145': missing field value\nunable to parse 'm,d=e f=': missing field value\nunable to parse 'm,d=q f=\"it': s\" zz': bad timestamp dropped=0";
    expect(readRefusal(partial)).toEqual({
      cause: 'unparsable',
      dropped: 0,
      lines: new Map([
        ['m,d=b f= 1796314391145', "unable to parse 'm,d=b f= 1796314391145': missing field value"],
        ['m,d=e f=', "unable to parse 'm,d=e f=': missing field value"],
        ['m,d=q f="it\': s" zz', "unable to parse 'm,d=q f=\"it': s\" zz': bad timestamp"],
      ]),
    });
    expect(readRefusal("unable to parse 'm,d=b f= 1': missing field value")).toEqual({
      cause: 'unparsable',
      dropped: undefined,
      lines: new Map([['m,d=b f= 1', "unable to parse 'm,d=b f= 1': missing field value"]]),
    });
  });
});

describe('pickRefused', () => {
  const lines = [
    'm,d=a f=1 3000',
    'm,d=b f=2 1000',
    'm,d=c f=3i 4000',
    'n,d=d f=4 2000',
    'm,d=e f="4" 5000',
    'm,d=f f=',
  ];

  it('points at the N oldest for retention, a line without a timestamp counting as the newest', () => {
    expect(pickRefused({ cause: 'retention', dropped: 2 }, lines)).toEqual({ indexes: [1, 3], messages: undefined });
    expect(pickRefused({ cause: 'retention', dropped: 0 }, lines)).toBeUndefined();
  });

  it('points at the lines of the measurement that carry the field with the refused kind', () => {
    const conflict = (kind: string, measurement = 'm') => ({ cause: 'field-type', dropped: 1, field: 'f', measurement, kind }) as const;
    expect(pickRefused(conflict('float'), lines)).toEqual({ indexes: [0, 1], messages: undefined });
    expect(pickRefused(conflict('integer'), lines)).toEqual({ indexes: [2], messages: undefined });
    expect(pickRefused(conflict('string'), lines)).toEqual({ indexes: [4], messages: undefined });
    expect(pickRefused(conflict('float', 'n'), lines)).toEqual({ indexes: [3], messages: undefined });
    expect(pickRefused(conflict('boolean'), lines)).toBeUndefined();
  });

  it('points at the lines InfluxDB named, with its words about each', () => {
    const refusal = readRefusal("partial write: unable to parse 'm,d=f f=': missing field value dropped=0");
    expect(pickRefused(refusal, lines)).toEqual({ indexes: [5], messages: ["unable to parse 'm,d=f f=': missing field value"] });
    expect(pickRefused(refusal, lines.slice(0, 5))).toBeUndefined();
  });

  it('points at nothing when the message gives only a count', () => {
    expect(pickRefused({ cause: 'other', dropped: 6 }, lines)).toBeUndefined();
  });
});

describe('fieldKind', () => {
  it.each([
    ['waste_bin,device_id=b1,district=x seq=7i,fillingLevel=0.5,status="lidOpen" 1', 'fillingLevel', 'float'],
    ['waste_bin,device_id=b1,district=x seq=7i,fillingLevel=0.5,status="lidOpen" 1', 'seq', 'integer'],
    ['waste_bin,device_id=b1,district=x seq=7i,fillingLevel=0.5,status="lidOpen" 1', 'status', 'string'],
    ['waste_bin,device_id=b1,district=x seq=7i,fillingLevel=1e-7 1', 'fillingLevel', 'float'],
    // Escaped tags and a string value holding the separators do not end the field set early.
    ['waste_bin,device_id=b\\ 1\\,\\=,district=nieuw\\ west status="a, b=\\"c\\" d",fillingLevel=-3 1', 'fillingLevel', 'float'],
    ['waste_bin,device_id=b1 ok=t,n=5u 1', 'ok', 'boolean'],
    ['waste_bin,device_id=b1 ok=t,n=5u 1', 'n', 'unsigned'],
    ['waste_bin,device_id=b1 seq=7i 1', 'fillingLevel', undefined],
    ['parking_meter,device_id=b1 fillingLevel=0.5 1', 'fillingLevel', undefined],
    ['waste\\ bin,device_id=b1 fillingLevel=0.5 1', 'fillingLevel', undefined],
  ])('%s: %s → %s', (line, field, kind) => {
    expect(fieldKind(line, 'waste_bin', field)).toBe(kind);
  });

  it('unescapes the measurement name', () => {
    expect(fieldKind('street\\ light\\,x,device_id=b1 voltage=230 1', 'street light,x', 'voltage')).toBe('float');
  });
});
