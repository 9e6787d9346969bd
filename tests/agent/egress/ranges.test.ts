import { describe, expect, it } from 'vitest';
import {
  cidrRange, complementRanges, formatAddress, invertRanges, mergeRanges, parseAddress, portComplement, rangeText,
} from '../../../agent/egress/ranges.js';

describe('address parsing and formatting', () => {
  it('round-trips IPv4 and IPv6 in canonical form', () => {
    expect(parseAddress(4, '10.1.2.3')).toBe(0x0a010203n);
    expect(formatAddress(4, 0xffffffffn)).toBe('255.255.255.255');
    expect(parseAddress(6, '2001:DB8::1')).toBe(0x20010db8000000000000000000000001n);
    expect(formatAddress(6, parseAddress(6, '2001:0db8:0000:0000:0000:ff00:0042:8329')!)).toBe('2001:db8::ff00:42:8329');
    expect(formatAddress(6, 0n)).toBe('::');
    expect(formatAddress(6, 1n)).toBe('::1');
    expect(formatAddress(6, parseAddress(6, 'fe80::1%en0')!)).toBe('fe80::1');
    expect(formatAddress(6, parseAddress(6, '::ffff:192.0.2.1')!)).toBe('::ffff:c000:201');
    // A single zero group is not shortened (RFC 5952 4.2.2); the first of equal runs wins.
    expect(formatAddress(6, parseAddress(6, '2001:db8:0:1:1:1:1:1')!)).toBe('2001:db8:0:1:1:1:1:1');
    expect(formatAddress(6, parseAddress(6, '2001:0:0:1:0:0:0:1')!)).toBe('2001:0:0:1::1');
  });

  it('rejects what is not an address of the family', () => {
    expect(parseAddress(4, '::1')).toBeNull();
    expect(parseAddress(6, '10.0.0.1')).toBeNull();
    expect(parseAddress(4, '256.1.1.1')).toBeNull();
    expect(() => cidrRange(4, '10.0.0.0', 33)).toThrow(/prefix/);
    expect(() => cidrRange(6, 'nope', 64)).toThrow(/IPv6/);
  });

  it('cidrRange ignores host bits', () => {
    const r = cidrRange(4, '10.1.2.3', 8);
    expect([formatAddress(4, r.start), formatAddress(4, r.end)]).toEqual(['10.0.0.0', '10.255.255.255']);
    expect(rangeText(4, cidrRange(4, '192.168.1.1', 32))).toBe('192.168.1.1');
    expect(rangeText(6, cidrRange(6, '2001:db8::5', 32))).toBe('2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff');
  });
});

describe('complementRanges', () => {
  it('nothing covered: the whole space', () => {
    expect(complementRanges(4, [])).toEqual(['0.0.0.0-255.255.255.255']);
    expect(complementRanges(6, [])).toEqual(['::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']);
  });

  it('everything covered: nothing left', () => {
    expect(complementRanges(4, [{ address: '0.0.0.0', prefix: 0 }])).toEqual([]);
    expect(complementRanges(6, [{ address: '::', prefix: 0 }, { address: '2001:db8::', prefix: 32 }])).toEqual([]);
  });

  it('a /32 in the middle and at both ends', () => {
    expect(complementRanges(4, [{ address: '10.0.0.1', prefix: 32 }])).toEqual(['0.0.0.0-10.0.0.0', '10.0.0.2-255.255.255.255']);
    expect(complementRanges(4, [{ address: '0.0.0.0', prefix: 32 }, { address: '255.255.255.255', prefix: 32 }]))
      .toEqual(['0.0.0.1-255.255.255.254']);
    // A single address left over is written alone.
    expect(complementRanges(4, [{ address: '0.0.0.0', prefix: 1 }, { address: '128.0.0.0', prefix: 2 }, { address: '192.0.0.0', prefix: 3 },
      { address: '224.0.0.0', prefix: 4 }, { address: '240.0.0.0', prefix: 5 }, { address: '248.0.0.0', prefix: 6 }, { address: '252.0.0.0', prefix: 7 },
      { address: '254.0.0.0', prefix: 8 }, { address: '255.0.0.0', prefix: 9 }, { address: '255.128.0.0', prefix: 10 }, { address: '255.192.0.0', prefix: 11 },
      { address: '255.224.0.0', prefix: 12 }, { address: '255.240.0.0', prefix: 13 }, { address: '255.248.0.0', prefix: 14 }, { address: '255.252.0.0', prefix: 15 },
      { address: '255.254.0.0', prefix: 16 }, { address: '255.255.0.0', prefix: 17 }, { address: '255.255.128.0', prefix: 18 }, { address: '255.255.192.0', prefix: 19 },
      { address: '255.255.224.0', prefix: 20 }, { address: '255.255.240.0', prefix: 21 }, { address: '255.255.248.0', prefix: 22 }, { address: '255.255.252.0', prefix: 23 },
      { address: '255.255.254.0', prefix: 24 }, { address: '255.255.255.0', prefix: 25 }, { address: '255.255.255.128', prefix: 26 }, { address: '255.255.255.192', prefix: 27 },
      { address: '255.255.255.224', prefix: 28 }, { address: '255.255.255.240', prefix: 29 }, { address: '255.255.255.248', prefix: 30 }, { address: '255.255.255.252', prefix: 31 },
      { address: '255.255.255.254', prefix: 32 }])).toEqual(['255.255.255.255']);
  });

  it('adjacent and overlapping ranges merge, input order does not matter', () => {
    const covered = [
      { address: '10.0.0.0', prefix: 9 }, { address: '192.168.0.0', prefix: 16 }, { address: '10.128.0.0', prefix: 9 },
      { address: '10.20.0.0', prefix: 16 }, { address: '127.0.0.0', prefix: 8 }, { address: '192.168.1.0', prefix: 24 },
    ];
    const expected = ['0.0.0.0-9.255.255.255', '11.0.0.0-126.255.255.255', '128.0.0.0-192.167.255.255', '192.169.0.0-255.255.255.255'];
    expect(complementRanges(4, covered)).toEqual(expected);
    expect(complementRanges(4, [...covered].reverse())).toEqual(expected);
  });

  it('IPv6: loopback, link-local and link-scope multicast', () => {
    expect(complementRanges(6, [{ address: '::1', prefix: 128 }, { address: 'fe80::', prefix: 10 }, { address: 'ff02::', prefix: 16 }])).toEqual([
      '::',
      '::2-fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      'fec0::-ff01:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      'ff03::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    ]);
  });

  it('the complement and the covered ranges partition the space', () => {
    const covered = [cidrRange(4, '10.0.0.0', 8), cidrRange(4, '10.1.0.0', 16), cidrRange(4, '172.16.0.0', 12), cidrRange(4, '8.8.8.8', 32)];
    const holes = invertRanges(4, covered);
    const all = mergeRanges([...holes, ...covered]);
    expect(all).toEqual([{ start: 0n, end: 0xffffffffn }]);
    const size = (rs: { start: bigint; end: bigint }[]) => rs.reduce((n, r) => n + r.end - r.start + 1n, 0n);
    expect(size(holes) + size(mergeRanges(covered))).toBe(1n << 32n);
  });
});

describe('portComplement', () => {
  it('the ports that are not listed, 1–65535', () => {
    expect(portComplement([443])).toEqual(['1-442', '444-65535']);
    expect(portComplement([])).toEqual(['1-65535']);
    expect(portComplement([1])).toEqual(['2-65535']);
    expect(portComplement([65535])).toEqual(['1-65534']);
    expect(portComplement([443, 80, 443, 81])).toEqual(['1-79', '82-442', '444-65535']);
    expect(portComplement([1, 3])).toEqual(['2', '4-65535']);
    expect(portComplement([0, 70000, 22])).toEqual(['1-21', '23-65535']);
  });
});
