import { describe, expect, it } from 'vitest';
import { quoteLiteral } from '../../../core/pg/connection.ts';
import { displayName, ident } from '../../../core/pg/ident.ts';

describe('identifiers and literals', () => {
  it('ident quotes only what SQL needs quoted', () => {
    expect(ident('trades')).toBe('trades');
    expect(ident('_a$1')).toBe('_a$1');
    expect(ident('Trades')).toBe('"Trades"');
    expect(ident('1x')).toBe('"1x"');
    expect(ident('a"b')).toBe('"a""b"');
  });

  it('displayName writes schema.name, each part as ident does', () => {
    expect(displayName({ schema: 'public', name: 'trades' })).toBe('public.trades');
    expect(displayName({ schema: 'My Schema', name: 'a.b' })).toBe('"My Schema"."a.b"');
  });

  it('quoteLiteral doubles quotes (CREATE DATABASE … ENCODING, locales, comments)', () => {
    expect(quoteLiteral('UTF8')).toBe("'UTF8'");
    expect(quoteLiteral("x'; DROP DATABASE postgres; --")).toBe("'x''; DROP DATABASE postgres; --'");
  });
});
