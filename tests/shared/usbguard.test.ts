/** usb.rules: USBGuard's rule language, parsed against USBGuard's own test data and evaluated on devices. */
import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  parseRule, formatRule, checkRules, evaluateRules, evaluateRulesDetailed, ruleMatches, attributesMatch,
  UsbRuleSyntaxError, type EvalContext, type Rule,
} from '../../shared/usbguard/index.js';
import { checkPolicy } from '../../shared/policy.js';
import type { UsbDevice, UsbInterface } from '../../shared/usb.js';

// ---------------------------------------------------------------------------------------------
// Conformance: USBGuard's src/Tests/Rules/test-rules.{good,bad}, beside the clone (see its README).
const CONFORMANCE = path.resolve(process.cwd(), '../shared/conformance/usbguard-rules');
const present = existsSync(path.join(CONFORMANCE, 'test-rules.good')) && existsSync(path.join(CONFORMANCE, 'test-rules.bad'));
/** One rule per line (LF; a CR before it is dropped); the final newline ends the last line. */
const lines = (file: string): string[] => {
  const all = readFileSync(path.join(CONFORMANCE, file), 'utf8').split('\n').map((l) => l.replace(/\r$/, ''));
  if (all.at(-1) === '') all.pop();
  return all;
};

describe.runIf(present || process.env.CI === 'true')('USBGuard conformance data', () => {
  it('is present (CI must not skip it)', () => {
    expect(present, `missing ${CONFORMANCE}`).toBe(true);
  });

  it('parses every rule of test-rules.good (comment lines included) and round-trips it through formatRule', () => {
    const good = lines('test-rules.good');
    expect(good.length).toBeGreaterThan(700);
    const failures: string[] = [];
    let roundTripped = 0;
    for (const [i, text] of good.entries()) {
      let rule: Rule;
      try {
        rule = parseRule(text);
      } catch (e) {
        failures.push(`line ${i + 1}: ${(e as Error).message}: ${text}`);
        continue;
      }
      const canonical = formatRule(rule);
      expect(parseRule(canonical), `line ${i + 1}: ${text}\n -> ${canonical}`).toStrictEqual(rule);
      expect(formatRule(parseRule(canonical))).toBe(canonical);
      roundTripped++;
    }
    expect(failures).toEqual([]);
    expect(roundTripped).toBe(good.length);
    // Comment-only lines are rules with no target: they parse and never match.
    expect(good.filter((l) => l.trim().startsWith('#')).map((l) => parseRule(l).target)).toEqual([null, null, null]);
  });

  it('refuses every rule of test-rules.bad, with a column inside the rule', () => {
    const bad = lines('test-rules.bad').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    expect(bad.length).toBeGreaterThan(70);
    const accepted: string[] = [];
    for (const text of bad) {
      try {
        parseRule(text);
        accepted.push(text);
      } catch (e) {
        expect(e).toBeInstanceOf(UsbRuleSyntaxError);
        const col = (e as UsbRuleSyntaxError).column;
        expect(col).toBeGreaterThanOrEqual(1);
        expect(col).toBeLessThanOrEqual([...text].length + 1);
      }
    }
    expect(accepted).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Devices
const iface = (triple: string, driver: string | null = null): UsbInterface => {
  const [c, s, p] = triple.split(':') as [string, string, string];
  return { class: c, subclass: s, protocol: p, driver };
};
const device = (o: Partial<UsbDevice> & { ifs?: string[] }): UsbDevice => {
  const { ifs = [], ...rest } = o;
  return {
    id: '1-2', platform: 'linux', vendorId: '0000', productId: '0000', serial: null, manufacturer: null, product: null,
    deviceClass: '00', deviceSubclass: '00', deviceProtocol: '00', interfaces: ifs.map((t) => iface(t)),
    port: '1-2', parentId: 'usb1', connectType: 'hotplug', hash: null, parentHash: 'roothub=', authorized: true, speed: '480',
    ...rest,
  };
};
const stick = device({ vendorId: '0781', productId: '5567', serial: '4C530001230510112345', manufacturer: 'SanDisk', product: 'Cruzer Blade',
  ifs: ['08:06:50'], port: '1-2', hash: 'stick=', parentHash: 'roothub=' });
const keyboard = device({ id: '1-3', vendorId: '046d', productId: 'c31c', product: 'USB Keyboard', ifs: ['03:01:01', '03:00:00'],
  port: '1-3', hash: 'kbd=', parentHash: 'roothub=' });
const composite = device({ id: '1-5', vendorId: '1234', productId: 'abcd', serial: 'EVIL', product: 'Flash Disk', ifs: ['08:06:50', '03:01:01'],
  port: '1-5', hash: 'composite=', parentHash: 'roothub=' });
const hub = device({ id: '1-4', vendorId: '05e3', productId: '0610', product: 'USB2.0 Hub', deviceClass: '09', ifs: ['09:00:00'],
  port: '1-4', hash: 'hub=', parentHash: 'roothub=', connectType: 'hardwired' });
const stickBehindHub = device({ ...stick, id: '1-4.1', serial: '4C530009', port: '1-4.1', hash: 'stick2=', parentHash: 'hub=', parentId: '1-4' });
const phone = device({ id: '1-6', vendorId: '12d1', productId: '107e', serial: 'ABC"123\\', product: 'Mate 60 手机', ifs: ['06:01:01', 'ff:ff:00'],
  port: '1-6', hash: 'phone=' });
/** A Windows reading: no serial, no hash or parent hash, connect type unknown. */
const winStick = device({ ...stick, platform: 'win32', id: 'USB\\VID_0781&PID_5567\\X', serial: null, hash: null, parentHash: null,
  port: 'Port_#0002.Hub_#0003', connectType: 'unknown' });

const ctx = (o: Partial<EvalContext> = {}): EvalContext => ({
  now: new Date('2026-03-02T10:30:00Z'), random: () => 0.5, lastApplied: () => null, lastEvaluated: () => null,
  allowedMatches: () => false, utcOffsetMinutes: 0, ...o,
});
const matches = (text: string, d: UsbDevice, c: EvalContext = ctx()): boolean => ruleMatches(parseRule(text), d, c, 0);
const decide = (texts: string[], d: UsbDevice, c: EvalContext = ctx()) => evaluateRules(texts.map((t) => parseRule(t)), d, c);

describe('evaluation', () => {
  it('first match wins; match rules never decide; blank, comment and device rules are skipped', () => {
    const rules = [
      '# storage policy',
      '',
      'device id 0781:5567',
      'match with-interface one-of { 08:*:* }',
      'reject with-interface all-of { 08:*:* 03:*:* }',
      'allow with-interface equals { 08:*:* }',
      'allow with-interface match-all { 03:*:* }', // HID only (equals { 03:*:* } would need exactly one distinct interface)
      'block',
    ];
    expect(decide(rules, composite)).toEqual({ target: 'reject', index: 4 });
    expect(decide(rules, stick)).toEqual({ target: 'allow', index: 5 });
    expect(decide(rules, keyboard)).toEqual({ target: 'allow', index: 6 });
    expect(decide(rules, phone)).toEqual({ target: 'block', index: 7 });
    expect(decide(rules.slice(0, 4), stick)).toBeNull();
    const detail = evaluateRulesDetailed(rules.map((t) => parseRule(t)), stick, ctx());
    expect(detail).toEqual({ decision: { target: 'allow', index: 5 }, evaluated: [3, 4, 5], matched: [3], applied: [3, 5] });
  });

  it('a bare rule matches every device; label never restricts', () => {
    for (const d of [stick, keyboard, composite, hub, phone, winStick]) {
      expect(matches('allow', d)).toBe(true);
      expect(matches('allow label "anything at all"', d)).toBe(true);
    }
  });

  it('id with exact values and wildcards, hex case-insensitively', () => {
    expect(matches('allow id 0781:5567', stick)).toBe(true);
    expect(matches('allow 0781:5567', stick)).toBe(true);
    expect(matches('allow id 0781:*', stick)).toBe(true);
    expect(matches('allow id *:*', stick)).toBe(true);
    expect(matches('allow id 046D:C31C', keyboard)).toBe(true);
    expect(matches('allow id 0781:5568', stick)).toBe(false);
    expect(matches('allow id 0782:*', stick)).toBe(false);
    expect(matches('allow id one-of { 046d:* 0781:* }', stick)).toBe(true);
    expect(matches('allow id none-of { 046d:* 0781:* }', stick)).toBe(false);
    expect(matches('allow id none-of { 046d:* }', stick)).toBe(true);
  });

  describe('each set operator, on with-interface', () => {
    const cases: [string, UsbDevice, boolean][] = [
      ['all-of { 08:*:* 03:01:* }', composite, true],
      ['all-of { 08:*:* 03:01:* }', stick, false],
      ['one-of { 03:01:* 06:*:* }', phone, true],
      ['one-of { 03:01:* 06:*:* }', stick, false],
      ['none-of { 08:*:* 06:*:* }', keyboard, true],
      ['none-of { 08:*:* 06:*:* }', composite, false],
      ['equals { 08:*:* }', stick, true],
      ['equals { 08:*:* }', composite, false],
      ['equals { 03:00:00 03:01:01 }', keyboard, true], // a set: order does not matter
      ['equals { 03:01:01 08:06:50 }', composite, true],
      ['equals { 03:*:* 03:01:01 }', composite, false], // 08:06:50 is matched by no rule value
      ['equals-ordered { 03:01:01 03:00:00 }', keyboard, true],
      ['equals-ordered { 03:00:00 03:01:01 }', keyboard, false],
      ['match-all { 03:*:* 08:*:* }', keyboard, true], // the device's interfaces are a subset
      ['match-all { 03:*:* 08:*:* }', composite, true],
      ['match-all { 03:*:* 08:*:* }', phone, false],
      ['match-all { 08:*:* }', composite, false],
      ['{ 08:*:* 03:*:* }', composite, true], // no operator: equals
    ];
    for (const [set, d, want] of cases) {
      it(`with-interface ${set} ${want ? 'matches' : 'does not match'} ${d.product}`, () => {
        expect(matches(`allow with-interface ${set}`, d)).toBe(want);
      });
    }
  });

  it('each set operator on string attributes compares exactly', () => {
    expect(matches('allow name all-of { "Cruzer Blade" }', stick)).toBe(true);
    expect(matches('allow name all-of { "Cruzer Blade" "Other" }', stick)).toBe(false);
    expect(matches('allow name one-of { "Other" "Cruzer Blade" }', stick)).toBe(true);
    expect(matches('allow name one-of { "cruzer blade" }', stick)).toBe(false);
    expect(matches('allow name none-of { "Other" }', stick)).toBe(true);
    expect(matches('allow name none-of { "Cruzer Blade" }', stick)).toBe(false);
    expect(matches('allow name equals { "Cruzer Blade" }', stick)).toBe(true);
    expect(matches('allow name equals { "Cruzer Blade" "Other" }', stick)).toBe(false);
    expect(matches('allow name equals-ordered { "Cruzer Blade" }', stick)).toBe(true);
    expect(matches('allow name equals-ordered { "Cruzer" }', stick)).toBe(false);
    expect(matches('allow name match-all { "Cruzer Blade" "Other" }', stick)).toBe(true);
    expect(matches('allow name match-all { "Other" }', stick)).toBe(false);
  });

  it('with-interface single values and wildcards', () => {
    expect(matches('allow with-interface 08:*:*', stick)).toBe(true);
    expect(matches('allow with-interface 08:06:*', stick)).toBe(true);
    expect(matches('allow with-interface 08:06:50', stick)).toBe(true);
    expect(matches('allow with-interface 08:05:*', stick)).toBe(false);
    expect(matches('allow with-interface one-of { 03:01:* }', keyboard)).toBe(true);
    expect(matches('allow with-interface one-of { 03:01:* }', stick)).toBe(false);
    expect(matches('allow with-interface 08:*:*', composite)).toBe(false); // single value = equals
    expect(matches('block with-interface one-of { 06:01:01 }', phone)).toBe(true); // MTP
    expect(matches('allow with-interface 09:00:00', hub)).toBe(true);
  });

  it('via-port, parent-hash (a stick behind a hub), hash, serial and with-connect-type', () => {
    expect(matches('allow via-port "1-2"', stick)).toBe(true);
    expect(matches('allow via-port "1-2"', keyboard)).toBe(false);
    expect(matches('allow via-port one-of { "1-4.1" "1-4.2" }', stickBehindHub)).toBe(true);
    expect(matches('allow parent-hash "hub="', stickBehindHub)).toBe(true);
    expect(matches('allow parent-hash "hub="', stick)).toBe(false);
    expect(matches('allow id 0781:5567 parent-hash "hub=" via-port "1-4.1"', stickBehindHub)).toBe(true);
    expect(matches('allow hash "stick="', stick)).toBe(true);
    expect(matches('allow hash "stick="', stickBehindHub)).toBe(false);
    expect(matches('allow serial "4C530001230510112345"', stick)).toBe(true);
    expect(matches('allow with-connect-type "hardwired"', hub)).toBe(true);
    expect(matches('allow with-connect-type "hardwired"', stick)).toBe(false);
    expect(matches('allow with-connect-type one-of { "hotplug" "unknown" }', winStick)).toBe(true);
    expect(matches('allow with-connect-type ""', stick)).toBe(false);
  });

  it('quoted strings: escapes, \\xHH bytes read as UTF-8, and non-ASCII text', () => {
    expect(matches('allow serial "ABC\\"123\\\\"', phone)).toBe(true);
    expect(matches('allow name "Mate 60 手机"', phone)).toBe(true);
    expect(matches('allow name "Mate 60 \\xe6\\x89\\x8b\\xe6\\x9c\\xba"', phone)).toBe(true);
    expect(matches('allow name "\\x43ruzer Blade"', stick)).toBe(true);
    const r = parseRule('allow name "Mate 60 \\xe6\\x89\\x8b\\xe6\\x9c\\xba" serial "a\\x01b"');
    expect(r.name?.values).toEqual(['Mate 60 手机']);
    expect(formatRule(r)).toBe('allow serial "a\\x01b" name "Mate 60 手机"');
    expect(() => parseRule('allow name "\\n"')).toThrow(/unsupported escape/);
    expect(() => parseRule('allow name "\\xZZ"')).toThrow(/two hex digits/);
  });

  it('null attributes (the platform could not read them) fail positive tests and pass none-of', () => {
    expect(winStick.serial).toBeNull();
    expect(matches('allow serial "4C530001230510112345"', winStick)).toBe(false);
    expect(matches('allow serial one-of { "4C530001230510112345" }', winStick)).toBe(false);
    expect(matches('allow serial match-all { "x" }', winStick)).toBe(false);
    expect(matches('allow serial equals-ordered { "x" }', winStick)).toBe(false);
    expect(matches('block serial none-of { "4C530001230510112345" }', winStick)).toBe(true);
    expect(matches('allow hash "stick="', winStick)).toBe(false);
    expect(matches('allow parent-hash none-of { "hub=" }', winStick)).toBe(true);
    expect(matches('allow name "USB Keyboard"', { ...keyboard, product: null })).toBe(false);
    expect(matches('allow via-port "1-3"', { ...keyboard, port: null })).toBe(false);
    // No readable interfaces counts as unknown too: match-all does not hold vacuously.
    const noIfs = { ...stick, interfaces: [] };
    expect(matches('allow with-interface match-all { 08:*:* }', noIfs)).toBe(false);
    expect(matches('allow with-interface none-of { 08:*:* }', noIfs)).toBe(true);
    // And the id still works on a device with unknowns.
    expect(decide(['allow id 0781:5567 serial "4C530001230510112345"', 'allow id 0781:5567', 'block'], winStick)).toEqual({ target: 'allow', index: 1 });
  });

  describe('conditions', () => {
    it('true, false, negation and condition sets', () => {
      expect(matches('allow if true', stick)).toBe(true);
      expect(matches('allow if false', stick)).toBe(false);
      expect(matches('allow if !true', stick)).toBe(false);
      expect(matches('allow if !false', stick)).toBe(true);
      expect(matches('allow if { true !false }', stick)).toBe(true);
      expect(matches('allow if all-of { true false }', stick)).toBe(false);
      expect(matches('allow if equals { true true }', stick)).toBe(true);
      expect(matches('allow if equals-ordered { true false }', stick)).toBe(false);
      expect(matches('allow if one-of { false true }', stick)).toBe(true);
      expect(matches('allow if one-of { false !true }', stick)).toBe(false);
      expect(matches('allow if none-of { false !true }', stick)).toBe(true);
      expect(matches('allow if none-of { false true }', stick)).toBe(false);
      // Conditions are checked only when the attributes match.
      expect(matches('allow id 046d:* if true', stick)).toBe(false);
    });

    it('localtime inside and outside the window (fixed now, fixed zone)', () => {
      const at = (iso: string, utcOffsetMinutes = 0) => ctx({ now: new Date(iso), utcOffsetMinutes });
      expect(matches('allow if localtime(08:00-17:30)', stick, at('2026-03-02T10:30:00Z'))).toBe(true);
      expect(matches('allow if localtime(08:00-17:30)', stick, at('2026-03-02T17:30:00Z'))).toBe(true); // inclusive
      expect(matches('allow if localtime(08:00-17:30)', stick, at('2026-03-02T17:30:01Z'))).toBe(false);
      expect(matches('allow if localtime(08:00-17:30)', stick, at('2026-03-02T07:59:59Z'))).toBe(false);
      expect(matches('allow if !localtime(08:00-17:30)', stick, at('2026-03-02T22:00:00Z'))).toBe(true);
      // 02:30 UTC is 10:30 in Beijing (UTC+8).
      expect(matches('allow if localtime(08:00:00-17:30:00)', stick, at('2026-03-02T02:30:00Z', 480))).toBe(true);
      expect(matches('allow if localtime(08:00:00-17:30:00)', stick, at('2026-03-02T02:30:00Z', 0))).toBe(false);
      expect(matches('allow if localtime(1:00)', stick, at('2026-03-02T01:00:00Z'))).toBe(true); // a single second
      expect(matches('allow if localtime(1:00)', stick, at('2026-03-02T01:00:01Z'))).toBe(false);
    });

    it('random and random(p) with an injected random source', () => {
      expect(matches('allow if random(0.25)', stick, ctx({ random: () => 0.2 }))).toBe(true);
      expect(matches('allow if random(0.25)', stick, ctx({ random: () => 0.25 }))).toBe(false);
      expect(matches('allow if random', stick, ctx({ random: () => 0.49 }))).toBe(true);
      expect(matches('allow if random', stick, ctx({ random: () => 0.5 }))).toBe(false);
      expect(matches('allow if random(0)', stick, ctx({ random: () => 0 }))).toBe(false);
      expect(matches('allow if random(1)', stick, ctx({ random: () => 0.999 }))).toBe(true);
    });

    it('rule-applied / rule-evaluated, ever and within a past duration, from injected history', () => {
      const now = new Date('2026-03-02T10:30:00Z');
      const ago = (s: number) => new Date(now.getTime() - s * 1000);
      const hist = (applied: Date | null, evaluated: Date | null = null) =>
        ctx({ now, lastApplied: (i) => (i === 0 ? applied : null), lastEvaluated: (i) => (i === 0 ? evaluated : null) });
      expect(matches('allow if rule-applied', stick, hist(null))).toBe(false);
      expect(matches('allow if rule-applied', stick, hist(ago(86_400 * 30)))).toBe(true);
      expect(matches('allow if rule-applied(00:01)', stick, hist(ago(59)))).toBe(true);
      expect(matches('allow if rule-applied(00:01)', stick, hist(ago(60)))).toBe(true);
      expect(matches('allow if rule-applied(00:01)', stick, hist(ago(61)))).toBe(false);
      expect(matches('allow if rule-applied(60)', stick, hist(ago(61)))).toBe(false);
      expect(matches('allow if rule-applied(01:00:00)', stick, hist(ago(3599)))).toBe(true);
      expect(matches('allow if !rule-applied(00:01)', stick, hist(ago(120)))).toBe(true);
      expect(matches('allow if rule-evaluated', stick, hist(null, ago(5)))).toBe(true);
      expect(matches('allow if rule-evaluated(3)', stick, hist(null, ago(5)))).toBe(false);
      // The history is per rule index.
      expect(ruleMatches(parseRule('allow if rule-applied'), stick, hist(ago(1)), 1)).toBe(false);
      // `1m` is not a duration in the rule language (SS, HH:MM or HH:MM:SS): refused, not guessed.
      expect(() => parseRule('allow if rule-applied(1m)')).toThrow(/SS, HH:MM or HH:MM:SS/);
    });

    it('allowed-matches(query) asks the context with the parsed query', () => {
      const seen: Rule[] = [];
      const allowedDevices = [keyboard];
      const c = ctx({ allowedMatches: (q) => { seen.push(q); return allowedDevices.some((d) => attributesMatch(q, d)); } });
      const rule = 'allow with-interface one-of { 03:00:01 03:01:01 } if !allowed-matches(with-interface one-of { 03:00:01 03:01:01 })';
      expect(matches(rule, keyboard, c)).toBe(false); // a keyboard is already allowed
      expect(seen[0]?.withInterface?.operator).toBe('one-of');
      allowedDevices.length = 0;
      expect(matches(rule, keyboard, c)).toBe(true);
      expect(matches('allow if allowed-matches(name "Cruzer Blade" if false)', stick, ctx({ allowedMatches: (q) => attributesMatch(q, stick) }))).toBe(true);
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe('parsing details', () => {
  it('normalises to a canonical form that round-trips', () => {
    const r = parseRule('  allow\t1050:0011 name "Yubico Yubikey II" serial "0001234567" via-port "1-2" with-interface { 03:01:* } if { true }  # yubikey');
    expect(formatRule(r)).toBe('allow id 1050:0011 serial "0001234567" name "Yubico Yubikey II" via-port "1-2" with-interface 03:01:* if true # yubikey');
    expect(parseRule(formatRule(r))).toStrictEqual(r);
    expect(parseRule('allow id ABCD:EF01').id?.values).toEqual([{ vendor: 'abcd', product: 'ef01' }]);
  });

  it('refuses with a precise column and reason', () => {
    const err = (t: string) => { try { parseRule(t); } catch (e) { return [(e as UsbRuleSyntaxError).column, (e as UsbRuleSyntaxError).reason]; } return null; };
    expect(err('allow nme "x"')).toEqual([7, 'unknown attribute "nme"']);
    expect(err('allow name "a" name "b"')).toEqual([16, 'name attribute already defined']);
    expect(err('allow label "a" label "b"')).toEqual([17, 'label attribute already defined']);
    expect(err('allow *:1234')?.[0]).toBe(7);
    expect(err('allow with-interface 12:*:34')?.[1]).toMatch(/wildcard subclass needs a wildcard protocol/);
    expect(err('allow if localtime(17:00-08:00)')?.[1]).toMatch(/begins after it ends/);
    expect(err('allow if random(1.5)')?.[1]).toMatch(/from 0 to 1/);
    expect(err('allow if match-all { true }')?.[1]).toMatch(/match-all/);
    expect(err('allow name "中文" nme "x"')).toEqual([17, 'unknown attribute "nme"']); // columns count characters
    expect(err('allow if allowed-matches(nme "x")')).toEqual([26, 'allowed-matches query: unknown attribute "nme"']);
    expect(err('allow name "a\nb"')?.[1]).toMatch(/line break/);
  });

  it('checkRules names the first bad rule', () => {
    expect(checkRules(['allow id 0781:*', 'block'])).toBeNull();
    expect(checkRules(['allow id 0781:*', 'allow id 0781', 'allow nme "x"'])).toEqual({ index: 1, column: 10, message: expect.stringMatching(/invalid device id/) });
  });
});

describe('policy: usb.rules must parse', () => {
  it('accepts valid rules and refuses the first bad one as usb.rules[i]: rule i+1, column c: reason', () => {
    expect(checkPolicy({ usb: { rules: ['allow id 046d:c31c with-interface equals { 03:01:01 03:00:00 }', 'block with-interface one-of { 08:*:* 06:*:* }'] } }).ok).toBe(true);
    const r = checkPolicy({ usb: { rules: ['allow id 046d:c31c', '# note', 'allow if rule-applied(1m)', 'allow nme "x"'] } });
    expect(r).toEqual({ ok: false, error: expect.stringMatching(/^usb\.rules\[2\]: rule 3, column 23: rule-applied\(1m\): the past duration is SS, HH:MM or HH:MM:SS/) });
    expect(checkPolicy({ usb: { rules: ['allow with-interface 1::'] } })).toEqual({
      ok: false, error: 'usb.rules[0]: rule 1, column 22: invalid interface type "1::": expected CC:SS:PP, 2 hex digits each; SS and PP may be *',
    });
  });
});

describe('hostile rule text', () => {
  it('a 10 KB serial, control characters and markup parse (or are refused) cleanly and quickly', () => {
    const big = 'A'.repeat(10 * 1024);
    const t0 = performance.now();
    const r = parseRule(`allow serial "${big}"`);
    expect(r.serial?.values[0]).toHaveLength(10 * 1024);
    const markup = parseRule('allow name "<script>alert(1)</script>\u0000\u0007\u001b[31m\u202e"');
    expect(markup.name?.values[0]).toBe('<script>alert(1)</script>\u0000\u0007\u001b[31m\u202e');
    expect(formatRule(markup)).toBe('allow name "<script>alert(1)</script>\\x00\\x07\\x1b[31m\\xe2\\x80\\xae"');
    expect(parseRule(formatRule(markup))).toStrictEqual(markup);
    expect(() => parseRule(`allow serial "${big}\n"`)).toThrow(UsbRuleSyntaxError);
    expect(() => parseRule(`allow serial "${big}`)).toThrow(/unterminated string/);
    // Policy entries are capped at 4096 characters: refused with a reason, not parsed.
    expect(checkPolicy({ usb: { rules: [`allow serial "${big}"`] } })).toMatchObject({ ok: false, error: expect.stringMatching(/^usb\.rules\[0\]: /) });
    // Pathological shapes stay linear.
    const many = `allow name one-of { ${'"a" '.repeat(50_000)}}`;
    expect(parseRule(many).name?.values).toHaveLength(50_000);
    expect(() => parseRule(`allow name "${'\\'.repeat(200_001)}"`)).toThrow(UsbRuleSyntaxError);
    expect(() => parseRule(`allow if ${'!'.repeat(100_000)}true`)).toThrow(UsbRuleSyntaxError);
    expect(() => parseRule(`allow if allowed-matches(${'('.repeat(100_000)}`)).toThrow(/unterminated/);
    expect(() => parseRule('allow ' + '{'.repeat(100_000))).toThrow(UsbRuleSyntaxError);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
