/**
 * Evaluating parsed rules against a UsbDevice, the same way on Linux, Windows and macOS.
 *
 * Attribute → device field: id → vendorId:productId; serial → serial; name → product;
 * hash/parent-hash → hash/parentHash; via-port → port; with-interface → every interface's
 * class:subclass:protocol (in collector order); with-connect-type → connectType ("hotplug",
 * "hardwired", "unknown"; no device has "" or "not used", so those values match nothing);
 * label → nothing (it never restricts).
 *
 * Unknown values: a device attribute the platform could not read (null, or an empty interface
 * list — every configured USB device has at least one interface) is unknown. An unknown value
 * fails every positive test (a single value, equals, equals-ordered, all-of, one-of, match-all)
 * and passes none-of. So `allow serial "X"` never allows a device without a readable serial, and
 * `block serial none-of { "X" }` blocks it.
 *
 * Set operators (man page wording; "matches" honours * in ids and interface types, strings
 * compare exactly, hex compares case-insensitively):
 *   all-of         every rule value matches some device value
 *   one-of         some rule value matches some device value
 *   none-of        no rule value matches any device value
 *   equals         same set: as many distinct device values as distinct rule values, every rule
 *                  value matches a device value and every device value is matched by one
 *                  (a single value without operator is `equals`: `with-interface 08:*:*` does
 *                  not match a storage+HID composite)
 *   equals-ordered same sequence: same length, i-th rule value matches the i-th device value
 *   match-all      the device's values are a subset: every device value matched by a rule value
 *
 * Conditions are evaluated only when the attributes match; all conditions of a rule are
 * evaluated (each `random` draws once). all-of/equals/equals-ordered: all true; one-of: any;
 * none-of: none. Targets: the first rule whose target is allow/block/reject and that matches
 * decides. A `match` rule that matches is recorded and evaluation goes on (it never decides);
 * a `device` rule describes a device rather than policy and is skipped, as are blank and
 * comment-only rules.
 */
import type { UsbDevice } from '../usb.js';
import type { AttributeSet, Condition, DeviceId, InterfaceType, Rule, SetOperator, Target } from './ast.js';

export interface EvalContext {
  /** The time of the decision. */
  now: Date;
  /** Uniform in [0, 1); `random(p)` is true when random() < p. */
  random(): number;
  /** When the rule at this index last applied to a device (decided, or matched as `match`), before this evaluation. */
  lastApplied(index: number): Date | null;
  /** When the rule at this index was last evaluated, before this evaluation. */
  lastEvaluated(index: number): Date | null;
  /** allowed-matches(query): does a device that is currently allowed match the query (attributes only; see attributesMatch). */
  allowedMatches(query: Rule): boolean;
  /** Minutes local time is ahead of UTC at `now` for localtime(…); default: this host's zone. */
  utcOffsetMinutes?: number;
}

export type Decision = { target: Extract<Target, 'allow' | 'block' | 'reject'>; index: number };

/** An attribute of the device as a list of values; null when unknown. */
type Values<T> = T[] | null;

const lc = (s: string): string => s.toLowerCase();

function idMatches(rule: DeviceId, dev: DeviceId): boolean {
  if (rule.vendor === '*') return true;
  if (rule.vendor !== dev.vendor) return false;
  return rule.product === '*' || rule.product === dev.product;
}

function interfaceMatches(rule: InterfaceType, dev: InterfaceType): boolean {
  return rule.class === dev.class
    && (rule.subclass === '*' || rule.subclass === dev.subclass)
    && (rule.protocol === '*' || rule.protocol === dev.protocol);
}

const stringMatches = (rule: string, dev: string): boolean => rule === dev;

function distinct<T>(values: T[], key: (v: T) => string): T[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const k = key(v);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Compare a rule attribute with the device's values under the attribute's set operator. */
export function setMatches<T>(op: SetOperator, rule: T[], device: Values<T>, match: (r: T, d: T) => boolean, key: (v: T) => string): boolean {
  if (device === null || device.length === 0) return op === 'none-of';
  const some = (r: T): boolean => device.some((d) => match(r, d));
  switch (op) {
    case 'all-of':
      return rule.every(some);
    case 'one-of':
      return rule.some(some);
    case 'none-of':
      return !rule.some(some);
    case 'equals': {
      const r = distinct(rule, key);
      const d = distinct(device, key);
      return r.length === d.length && r.every(some) && d.every((dv) => r.some((rv) => match(rv, dv)));
    }
    case 'equals-ordered':
      return rule.length === device.length && rule.every((r, i) => match(r, device[i]!));
    case 'match-all':
      return device.every((d) => rule.some((r) => match(r, d)));
  }
}

const idKey = (v: DeviceId): string => `${v.vendor}:${v.product}`;
const ifKey = (v: InterfaceType): string => `${v.class}:${v.subclass}:${v.protocol}`;
const strKey = (v: string): string => v;

function strings(set: AttributeSet<string> | undefined, value: string | null): boolean {
  return !set || setMatches(set.operator, set.values, value === null ? null : [value], stringMatches, strKey);
}

/** Do the rule's attributes match the device (conditions and label ignored)? */
export function attributesMatch(rule: Rule, d: UsbDevice): boolean {
  if (rule.id && !setMatches(rule.id.operator, rule.id.values, [{ vendor: lc(d.vendorId), product: lc(d.productId) }], idMatches, idKey)) return false;
  if (rule.withInterface) {
    const ifs = d.interfaces.map((i) => ({ class: lc(i.class), subclass: lc(i.subclass), protocol: lc(i.protocol) }));
    if (!setMatches(rule.withInterface.operator, rule.withInterface.values, ifs, interfaceMatches, ifKey)) return false;
  }
  return strings(rule.serial, d.serial)
    && strings(rule.name, d.product)
    && strings(rule.hash, d.hash)
    && strings(rule.parentHash, d.parentHash)
    && strings(rule.viaPort, d.port)
    && strings(rule.withConnectType, d.connectType);
}

function secondsOfDay(ctx: EvalContext): number {
  const offset = ctx.utcOffsetMinutes ?? -ctx.now.getTimezoneOffset();
  const local = Math.floor(ctx.now.getTime() / 1000) + offset * 60;
  return ((local % 86400) + 86400) % 86400;
}

function within(last: Date | null, seconds: number, now: Date): boolean {
  if (last === null) return false;
  return seconds === 0 || now.getTime() - last.getTime() <= seconds * 1000;
}

export function conditionHolds(c: Condition, ctx: EvalContext, index: number): boolean {
  let v: boolean;
  switch (c.name) {
    case 'true': v = true; break;
    case 'false': v = false; break;
    case 'random': v = ctx.random() < c.probability; break;
    case 'localtime': {
      const t = secondsOfDay(ctx);
      v = t >= c.begin && t <= c.end;
      break;
    }
    case 'rule-applied': v = within(ctx.lastApplied(index), c.seconds, ctx.now); break;
    case 'rule-evaluated': v = within(ctx.lastEvaluated(index), c.seconds, ctx.now); break;
    case 'allowed-matches': v = ctx.allowedMatches(c.query); break;
  }
  return c.negated ? !v : v;
}

/** Are the rule's conditions met (true when it has none)? */
export function conditionsMet(rule: Rule, ctx: EvalContext, index: number): boolean {
  if (!rule.conditions) return true;
  const results = rule.conditions.values.map((c) => conditionHolds(c, ctx, index)); // all evaluated, as USBGuard does
  switch (rule.conditions.operator) {
    case 'one-of': return results.some(Boolean);
    case 'none-of': return !results.some(Boolean);
    default: return results.every(Boolean); // all-of, equals, equals-ordered
  }
}

/** Does the rule at `index` match the device now (attributes, then conditions)? Blank rules never match. */
export function ruleMatches(rule: Rule, device: UsbDevice, ctx: EvalContext, index: number): boolean {
  if (rule.target === null) return false;
  return attributesMatch(rule, device) && conditionsMet(rule, ctx, index);
}

/**
 * First match wins, with what the caller must record for rule-applied / rule-evaluated: stamp
 * `evaluated` indices as evaluated and `applied` indices as applied, both at ctx.now.
 */
export function evaluateRulesDetailed(rules: readonly Rule[], device: UsbDevice, ctx: EvalContext): {
  decision: Decision | null; evaluated: number[]; applied: number[]; matched: number[];
} {
  const evaluated: number[] = [];
  const matched: number[] = [];
  for (let index = 0; index < rules.length; index++) {
    const rule = rules[index]!;
    if (rule.target === null || rule.target === 'device') continue;
    evaluated.push(index);
    if (!ruleMatches(rule, device, ctx, index)) continue;
    if (rule.target === 'match') {
      matched.push(index);
      continue;
    }
    return { decision: { target: rule.target, index }, evaluated, applied: [...matched, index], matched };
  }
  return { decision: null, evaluated, applied: [...matched], matched };
}

/** The first rule with target allow/block/reject that matches, or null (the caller's default applies). */
export function evaluateRules(rules: readonly Rule[], device: UsbDevice, ctx: EvalContext): { target: Target; index: number } | null {
  return evaluateRulesDetailed(rules, device, ctx).decision;
}
