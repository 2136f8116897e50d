import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from './program.js';

/** Every command below `cmd`, with its path of names from the root. */
function walk(cmd: Command, path: string[] = []): { path: string[]; cmd: Command }[] {
  return [{ path, cmd }, ...cmd.commands.flatMap((c) => walk(c, [...path, c.name()]))];
}

/** A fresh program whose every command writes into `text` instead of the process. */
function captured(): { program: Command; text: { out: string; err: string } } {
  const program = buildProgram();
  const text = { out: '', err: '' };
  for (const { cmd } of walk(program)) {
    cmd.configureOutput({ writeOut: (t) => void (text.out += t), writeErr: (t) => void (text.err += t) });
  }
  return { program, text };
}

async function run(args: string[]): Promise<{ error: unknown; out: string; err: string }> {
  const { program, text } = captured();
  const error = await program.parseAsync(['node', 'citypipe', ...args]).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, ...text };
}

const commands = walk(buildProgram());

describe('the command tree', () => {
  it('has the commands the docs describe', () => {
    expect(commands.map((c) => c.path.join(' ')).filter(Boolean).sort()).toEqual(
      [
        'bench',
        'dead-letters',
        'dead-letters list',
        'dead-letters replay',
        'demo',
        'devices',
        'devices account',
        'devices add',
        'devices import',
        'devices generate',
        'devices list',
        'devices revoke',
        'devices rotate-secret',
        'simulate',
        'start',
      ].sort(),
    );
  });

  it.each(commands.map((c) => [c.path.join(' ') || '(root)', c] as const))('%s has a one-line summary and described options', (_name, { cmd }) => {
    expect(cmd.description().length).toBeGreaterThan(10);
    for (const o of cmd.options) expect(o.description, `${cmd.name()} ${o.flags}`).not.toBe('');
  });

  it.each(commands.map((c) => [c.path.join(' ') || '(root)', c] as const))('%s --help exits 0 with Usage:', async (_name, { path, cmd }) => {
    const r = await run([...path, '--help']);
    expect(r.error).toBeInstanceOf(CommanderError);
    expect((r.error as CommanderError).exitCode).toBe(0);
    expect(r.out).toMatch(/^Usage: citypipe/);
    expect(r.out).toContain(cmd.description().slice(0, 20));
    expect(r.err).toBe('');
    // Leaves are what people run: each shows how.
    if (cmd.commands.length === 0 && path.length > 0) expect(r.out).toContain('Examples');
  });

  it('puts the exit-code table in the root help', async () => {
    const r = await run(['--help']);
    for (const line of [/^ {2}0 +ok/m, /^ {2}1 +failure/m, /^ {2}2 +usage or configuration error/m, /^ {2}3 +unavailable/m, /^ {2}4 +not found/m, /^ {2}130 +interrupted/m]) {
      expect(r.out).toMatch(line);
    }
  });

  it('shows option defaults', async () => {
    expect((await run(['dead-letters', 'list', '--help'])).out).toMatch(/--limit <n>\s+at most this many, 1\.\.1000 \(default: "20"\)/);
    expect((await run(['dead-letters', 'replay', '--help'])).out).toMatch(/--chunk <n>\s+dead letters per request to the service \(default: "500"\)/);
  });

  it('makes commander’s own errors usage errors (the CLI exits 2 for every non-zero one)', async () => {
    for (const args of [['--bogus'], ['frobnicate'], ['devices'], ['devices', 'rotate-secret'], ['dead-letters', 'list', '--limit']]) {
      const r = await run(args);
      expect(r.error, args.join(' ')).toBeInstanceOf(CommanderError);
      expect((r.error as CommanderError).exitCode, args.join(' ')).not.toBe(0);
    }
  });
});
