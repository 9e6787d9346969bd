/**
 * The parsed form of one rule in USBGuard's rule language (usbguard-rules.conf(5)).
 * Values are normalised as they are parsed (hex lowercased, the omitted set operator written
 * out as `equals`, strings unescaped), so `parseRule(formatRule(r))` deep-equals `r`.
 */

export const TARGETS = ['allow', 'block', 'reject', 'match', 'device'] as const;
export type Target = (typeof TARGETS)[number];

export const SET_OPERATORS = ['all-of', 'one-of', 'none-of', 'equals-ordered', 'equals', 'match-all'] as const;
export type SetOperator = (typeof SET_OPERATORS)[number];
/** Conditions take every set operator but `match-all` (USBGuard fails on it at evaluation time). */
export type ConditionOperator = Exclude<SetOperator, 'match-all'>;

/** `VVVV:PPPP`, either part `*`; 4 lowercase hex digits otherwise. `*:PPPP` is not a device id. */
export interface DeviceId { vendor: string; product: string }
/** `CC:SS:PP`; class is 2 lowercase hex digits, subclass and protocol may be `*` (a `*` subclass needs a `*` protocol). */
export interface InterfaceType { class: string; subclass: string; protocol: string }

/** One attribute: its values and how they compare with the device's (omitted operator = `equals`). */
export interface AttributeSet<T> { operator: SetOperator; values: T[] }

export type Condition =
  | { name: 'true' | 'false'; negated: boolean }
  /** `random` (p = 0.5) or `random(p)`, 0 ≤ p ≤ 1. */
  | { name: 'random'; negated: boolean; argument: string | null; probability: number }
  /** `localtime(HH:MM[:SS][-HH:MM[:SS]])`: seconds since local midnight, begin ≤ end, both inclusive. */
  | { name: 'localtime'; negated: boolean; argument: string; begin: number; end: number }
  /** `rule-applied` / `rule-evaluated`, optionally `(SS | HH:MM | HH:MM:SS)`; seconds 0 = ever. */
  | { name: 'rule-applied' | 'rule-evaluated'; negated: boolean; argument: string | null; seconds: number }
  /** `allowed-matches(query)`: the query is a rule body (parsed as `allow <query>`); its conditions are never evaluated. */
  | { name: 'allowed-matches'; negated: boolean; argument: string; query: Rule };

export type ConditionName = Condition['name'];
export const CONDITION_NAMES: readonly ConditionName[] = ['true', 'false', 'random', 'localtime', 'rule-applied', 'rule-evaluated', 'allowed-matches'];

export interface Rule {
  /** null: a blank or comment-only line, which never matches (USBGuard's "empty" rule). */
  target: Target | null;
  id?: AttributeSet<DeviceId>;
  serial?: AttributeSet<string>;
  name?: AttributeSet<string>;
  hash?: AttributeSet<string>;
  parentHash?: AttributeSet<string>;
  viaPort?: AttributeSet<string>;
  withInterface?: AttributeSet<InterfaceType>;
  withConnectType?: AttributeSet<string>;
  /** Informational; never restricts a match. */
  label?: AttributeSet<string>;
  conditions?: { operator: ConditionOperator; values: Condition[] };
  /** Text after `#`, kept so a rule's note survives formatting. */
  comment?: string;
}

export type StringAttributeKey = 'serial' | 'name' | 'hash' | 'parentHash' | 'viaPort' | 'withConnectType' | 'label';

/** Rule-language keyword → Rule key, in the order formatRule writes them. */
export const ATTRIBUTES = [
  ['id', 'id'],
  ['serial', 'serial'],
  ['name', 'name'],
  ['hash', 'hash'],
  ['parent-hash', 'parentHash'],
  ['via-port', 'viaPort'],
  ['with-interface', 'withInterface'],
  ['with-connect-type', 'withConnectType'],
  ['label', 'label'],
] as const;
