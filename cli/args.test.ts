import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError, type BuildCommand } from './args.ts';

const build = (...a: string[]) => parseArgs(['build', ...a]) as BuildCommand;

describe('parseArgs', () => {
  it('takes repeated inputs and the seed defaults', () => {
    const c = build('--closure', 'reg', '--store', 's1', '--store=s2', '--files', 'f', '-o', 'out.img');
    expect(c.closures).toEqual(['reg']);
    expect(c.stores).toEqual(['s1', 's2']);
    expect(c.files).toEqual(['f']);
    expect(c.output).toBe('out.img');
    expect(c.options).toMatchObject({
      label: 'nixos',
      uuid: '44444444-4444-4444-8888-888888888888',
      epoch: 1,
      headroomMiB: 0,
      compress: false,
    });
  });

  it('turns compression on for .zst outputs, with the level of --compress', () => {
    expect(build('--tar', 'a.tar', '-o', 'x.img.zst').options).toMatchObject({ compress: true, compressionLevel: 3 });
    expect(build('--tar', 'a.tar', '--compress=9', '-o', 'x.img.zst').options).toMatchObject({
      compress: true,
      compressionLevel: 9,
    });
  });

  it('refuses --compress with an output not named .zst, saying what to name it', () => {
    expect(() => build('--tar', 'a.tar', '--compress', '-o', 'x.img')).toThrow(/x\.img\.zst/);
  });

  it('--compat asks for ext4 without the features older kernels and boot loaders refuse', () => {
    expect(build('--files', 'd', '-o', 'a.img').options.compat).toBe(false);
    expect(build('--files', 'd', '--compat', '-o', 'a.img').options.compat).toBe(true);
  });

  it('makes a random UUID on request', () => {
    const a = build('--files', 'd', '--uuid', 'random', '-o', 'a.img').options.uuid;
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(a).not.toBe('44444444-4444-4444-8888-888888888888');
  });

  it.each([
    [['--files', 'd'], /no output file/],
    [['-o', 'a.img'], /nothing to put in the image/],
    [['--files', 'd', '-o', 'a.img', '--label', 'a-label-longer-than-16'], /longer than 16 bytes/],
    [['--files', 'd', '-o', 'a.img', '--uuid', 'nope'], /UUID "nope"/],
    [['--files', 'd', '-o', 'a.img', '--block-size', '512'], /block size 512/],
    [['--files', 'd', '-o', 'a.img', '--headroom', '-3'], /--headroom needs a value/],
    [['--files', 'd', '-o', 'a.img', '--epoch', 'soon'], /--epoch takes a whole number/],
    [['--files', 'd', '-o', 'a.img', '--frobnicate'], /unknown option --frobnicate/],
    [['--files'], /--files needs a value/],
  ])('explains a bad command line: %j', (args, message) => {
    expect(() => build(...(args as string[]))).toThrow(UsageError);
    expect(() => build(...(args as string[]))).toThrow(message as RegExp);
  });

  it('parses inspect and ls', () => {
    expect(parseArgs(['inspect', 'a.img'])).toEqual({ command: 'inspect', image: 'a.img' });
    expect(parseArgs(['ls', 'a.img'])).toEqual({ command: 'ls', image: 'a.img', path: '/' });
    expect(parseArgs(['ls', 'a.img', '/etc'])).toEqual({ command: 'ls', image: 'a.img', path: '/etc' });
    expect(() => parseArgs(['frob'])).toThrow(/unknown command "frob"/);
  });
});
