import { describe, expect, it } from 'vitest';
import { colourEnabled, paletteFor, plain, stripColour } from './colour.js';

const tty = { isTTY: true };
const pipe = { isTTY: false };

describe('colourEnabled', () => {
  it.each([
    ['a terminal', tty, {}, true],
    ['a pipe', pipe, {}, false],
    ['a stream that does not say', {}, {}, false],
    ['NO_COLOR on a terminal (it wins over the terminal)', tty, { NO_COLOR: '1' }, false],
    ['NO_COLOR set to anything non-empty', tty, { NO_COLOR: 'no thanks' }, false],
    ['NO_COLOR empty, which no-color.org says to ignore', tty, { NO_COLOR: '' }, true],
    ['TERM=dumb on a terminal', tty, { TERM: 'dumb' }, false],
    ['TERM=xterm-256color on a terminal', tty, { TERM: 'xterm-256color' }, true],
    ['FORCE_COLOR=1 on a pipe', pipe, { FORCE_COLOR: '1' }, true],
    ['FORCE_COLOR empty on a pipe (set means on)', pipe, { FORCE_COLOR: '' }, true],
    ['FORCE_COLOR=1 with TERM=dumb', pipe, { FORCE_COLOR: '1', TERM: 'dumb' }, true],
    ['FORCE_COLOR=1 with NO_COLOR (the explicit request wins, as in Node.js)', pipe, { FORCE_COLOR: '1', NO_COLOR: '1' }, true],
    ['FORCE_COLOR=0 on a terminal', tty, { FORCE_COLOR: '0' }, false],
    ['FORCE_COLOR=false on a terminal', tty, { FORCE_COLOR: 'false' }, false],
  ])('%s → %s', (_name, stream, env, expected) => {
    expect(colourEnabled(stream, env)).toBe(expected);
  });
});

describe('paletteFor', () => {
  it('wraps text in SGR codes when enabled and leaves it alone when not', () => {
    const on = paletteFor(pipe, { FORCE_COLOR: '1' });
    expect(on.enabled).toBe(true);
    expect(on.red('citypipe: boom')).toBe('\x1b[31mcitypipe: boom\x1b[39m');
    expect(on.yellow('w')).toBe('\x1b[33mw\x1b[39m');
    expect(on.bold('b')).toBe('\x1b[1mb\x1b[22m');
    expect(on.dim('d')).toBe('\x1b[2md\x1b[22m');
    expect(stripColour(on.bold(on.red('x')) + on.dim(' y'))).toBe('x y');

    const off = paletteFor(tty, { NO_COLOR: '1' });
    expect(off).toBe(plain);
    expect(off.red('citypipe: boom')).toBe('citypipe: boom');
  });
});
