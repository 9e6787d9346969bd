/**
 * Canonical text of a parsed rule: attributes in one fixed order (id, serial, name, hash,
 * parent-hash, via-port, with-interface, with-connect-type, label, if), single blanks, the
 * `equals` operator omitted, hex lowercase. `parseRule(formatRule(r))` deep-equals `r`.
 */
import { ATTRIBUTES, type AttributeSet, type Condition, type DeviceId, type InterfaceType, type Rule } from './ast.js';

const encoder = new TextEncoder();

/** Characters written as \xHH bytes: C0/C1 controls, DEL, and invisible format characters that could disguise text. */
function mustEscape(cp: number): boolean {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp === 0xad
    || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f)
    || cp === 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb);
}

/** A string value in double quotes; `"` and `\` escaped, controls as \xHH, other text (CJK included) as is. */
export function quoteString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (mustEscape(cp)) for (const b of encoder.encode(ch)) out += `\\x${b.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

export const formatDeviceId = (id: DeviceId): string => `${id.vendor}:${id.product}`;
export const formatInterface = (i: InterfaceType): string => `${i.class}:${i.subclass}:${i.protocol}`;

export function formatCondition(c: Condition): string {
  const arg = 'argument' in c && c.argument !== null ? `(${c.argument})` : '';
  return `${c.negated ? '!' : ''}${c.name}${arg}`;
}

function formatSet<T>(keyword: string, set: AttributeSet<T>, value: (v: T) => string): string {
  if (set.operator === 'equals' && set.values.length === 1) return `${keyword} ${value(set.values[0]!)}`;
  const op = set.operator === 'equals' ? '' : `${set.operator} `;
  return `${keyword} ${op}{ ${set.values.map(value).join(' ')} }`;
}

export function formatRule(rule: Rule): string {
  if (rule.target === null) return rule.comment === undefined ? '' : `#${rule.comment}`;
  const parts: string[] = [rule.target];
  for (const [keyword, key] of ATTRIBUTES) {
    if (key === 'id') {
      if (rule.id) parts.push(formatSet(keyword, rule.id, formatDeviceId));
    } else if (key === 'withInterface') {
      if (rule.withInterface) parts.push(formatSet(keyword, rule.withInterface, formatInterface));
    } else {
      const set = rule[key];
      if (set) parts.push(formatSet(keyword, set, quoteString));
    }
  }
  if (rule.conditions) parts.push(formatSet('if', rule.conditions, formatCondition));
  const text = parts.join(' ');
  return rule.comment === undefined ? text : `${text} #${rule.comment}`;
}
