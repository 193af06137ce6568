import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHalf, fromOipDatatype, OIP_DATATYPES, toHalf, toOipDatatype } from './datatypes.js';

describe('OIP datatypes', () => {
  it('map both ways for every datatype', () => {
    expect(OIP_DATATYPES).toHaveLength(13);
    for (const datatype of OIP_DATATYPES) {
      expect(toOipDatatype(fromOipDatatype(datatype)!)).toBe(datatype);
    }
    expect(fromOipDatatype('FP32')).toBe('float32');
    expect(fromOipDatatype('BYTES')).toBe('string');
    expect(fromOipDatatype('STRING')).toBeUndefined();
    expect(fromOipDatatype('toString')).toBeUndefined();
  });

  it('encodes IEEE half floats', () => {
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(-2)).toBe(0xc000);
    expect(toHalf(65504)).toBe(0x7bff);
    expect(toHalf(1e6)).toBe(0x7c00);
    expect(toHalf(2 ** -24)).toBe(0x0001);
    expect(toHalf(2 ** -26)).toBe(0);
    expect(toHalf(-0)).toBe(0x8000);
    expect(Number.isNaN(fromHalf(toHalf(Number.NaN)))).toBe(true);
    expect(fromHalf(0x7c00)).toBe(Number.POSITIVE_INFINITY);
    expect(fromHalf(0x3555)).toBeCloseTo(1 / 3, 3);
  });

  it('round-trips every finite half exactly (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), (bits) => {
        const exponent = (bits >>> 10) & 0x1f;
        fc.pre(exponent !== 0x1f);
        expect(toHalf(fromHalf(bits))).toBe(bits);
      }),
    );
  });
});
