/**
 * Parser for one rule of USBGuard's rule language, following usbguard-rules.conf(5) and the
 * reference PEG grammar (src/Library/RuleParser/Grammar.hpp) plus the checks its actions make.
 * Hand-written, one pass, no backtracking over input: time is linear in the rule's length, so a
 * hostile rule (huge strings, control characters) is parsed or refused quickly.
 *
 * Accepted, as USBGuard does: leading/trailing blanks (space, tab) and blanks between tokens;
 * `# comment` after a rule or alone; a blank or comment-only line (target null, never matches);
 * `allow VVVV:PPPP …` (a bare device id straight after the target is the `id` attribute).
 * Refused where USBGuard refuses: a repeated attribute or `if`, unknown words, escapes other than
 * `\"` `\\` `\xHH` in strings, `*:PPPP`, `CC:*:PP`, empty sets, `random()`, unknown conditions,
 * `allowed-matches(...)` whose query is not a valid rule body, `localtime` with begin > end.
 * Stricter than USBGuard (its code accepts these by accident, see README.md): a repeated `label`,
 * `true(x)`/`false(x)`, trailing text after a time or probability (`localtime(1:00abc)`,
 * `random(0.5x)`), probabilities outside 0..1, and `if match-all { … }` (USBGuard throws at
 * evaluation time).
 */
import {
  ATTRIBUTES, CONDITION_NAMES, SET_OPERATORS, TARGETS,
  type AttributeSet, type Condition, type ConditionName, type ConditionOperator, type DeviceId,
  type InterfaceType, type Rule, type SetOperator, type StringAttributeKey, type Target,
} from './ast.js';

export interface RuleError { column: number; message: string }

export class UsbRuleSyntaxError extends Error {
  readonly column: number;
  constructor(message: string, column: number) {
    super(`column ${column}: ${message}`);
    this.name = 'UsbRuleSyntaxError';
    this.column = column;
    this.reason = message;
  }
  /** The message without the column prefix. */
  readonly reason: string;
}

/** Internal: where (UTF-16 index into the text being parsed) and why. */
class Failure {
  constructor(readonly pos: number, readonly message: string) {}
}

const MAX_CONDITIONS = 64; // USBGuard keeps condition results in a 64-bit mask
const isBlank = (c: string): boolean => c === ' ' || c === '\t';
const isHex = (c: string): boolean => (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isLetter = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const isWordChar = (c: string): boolean => isLetter(c) || isDigit(c) || c === '-' || c === '_';

/** A short, inert rendering of input text for an error message. */
function show(text: string): string {
  if (text === '') return 'the end of the rule';
  const cut = [...text.slice(0, 40)].slice(0, 24).join('');
  return JSON.stringify(cut.length < text.length ? `${cut}…` : cut);
}

const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const encoder = new TextEncoder();

class Parser {
  pos = 0;
  constructor(private readonly s: string, private readonly depth: number) {}

  private fail(message: string, at = this.pos): never {
    throw new Failure(at, message);
  }
  private peek(offset = 0): string {
    return this.s[this.pos + offset] ?? '';
  }
  private eof(): boolean {
    return this.pos >= this.s.length;
  }
  private skipBlanks(): number {
    const start = this.pos;
    while (isBlank(this.peek())) this.pos++;
    return this.pos - start;
  }
  /** The run of word characters at the cursor (consumed). */
  private word(): string {
    const start = this.pos;
    while (isWordChar(this.peek())) this.pos++;
    return this.s.slice(start, this.pos);
  }
  /** The token at `at` for messages: up to the next blank, brace or end. */
  private tokenAt(at: number): string {
    let end = at;
    while (end < this.s.length && end - at < 64 && !isBlank(this.s[end]!) && this.s[end] !== '}' && this.s[end] !== '{') end++;
    return this.s.slice(at, Math.max(end, Math.min(at + 1, this.s.length)));
  }

  private describe(what: string, at: number): string {
    const token = this.tokenAt(at);
    return token === '' ? `missing ${what}` : `invalid ${what} ${show(token)}`;
  }

  parse(): Rule {
    this.skipBlanks();
    if (this.eof()) return { target: null };
    if (this.peek() === '#') return { target: null, comment: this.s.slice(this.pos + 1) };
    const rule: Rule = { target: this.target() };
    let first = true;
    for (;;) {
      const blanks = this.skipBlanks();
      if (this.eof()) break;
      if (this.peek() === '#') {
        rule.comment = this.s.slice(this.pos + 1);
        break;
      }
      if (blanks === 0) this.fail(`expected a blank, "#" or the end of the rule, found ${show(this.tokenAt(this.pos))}`);
      if (this.atDeviceId()) {
        // Only the position right after the target takes a bare device id; no keyword starts with a hex digit.
        if (!first) this.fail(`a bare device id may only follow the target; write id ${show(this.tokenAt(this.pos))}`);
        rule.id = { operator: 'equals', values: [this.deviceId()] };
      } else {
        this.attribute(rule);
      }
      first = false;
    }
    return rule;
  }

  /** Does the token at the cursor look like a device id (hex digits, `*`, `:`) rather than a keyword? */
  private atDeviceId(): boolean {
    const c = this.peek();
    if (isDigit(c) || c === '*') return true;
    if (!isHex(c)) return false;
    for (let i = this.pos; i < this.s.length; i++) {
      const d = this.s[i]!;
      if (isBlank(d) || d === '#') break;
      if (!isHex(d) && d !== ':' && d !== '*') return false;
    }
    return true;
  }

  private target(): Target {
    const at = this.pos;
    const w = this.word();
    if ((TARGETS as readonly string[]).includes(w)) return w as Target;
    return this.fail(w === ''
      ? `expected a target (allow, block, reject, match or device), found ${show(this.tokenAt(at))}`
      : `unknown target ${show(w)}: expected allow, block, reject, match or device`, at);
  }

  private attribute(rule: Rule): void {
    const at = this.pos;
    const w = this.word();
    if (w === 'if') {
      if (rule.conditions) this.fail('conditions already defined: a rule takes one "if"', at);
      this.valueFollows('if');
      rule.conditions = this.conditions();
      return;
    }
    const entry = ATTRIBUTES.find(([keyword]) => keyword === w);
    if (!entry) {
      this.fail(w === ''
        ? `expected an attribute (id, serial, name, hash, parent-hash, via-port, with-interface, with-connect-type, label, if), found ${show(this.tokenAt(at))}`
        : `unknown attribute ${show(w)}`, at);
    }
    const [keyword, key] = entry;
    if (rule[key] !== undefined) this.fail(`${keyword} attribute already defined`, at);
    this.valueFollows(keyword);
    if (key === 'id') rule.id = this.set(() => this.deviceId(), keyword);
    else if (key === 'withInterface') rule.withInterface = this.set(() => this.interfaceType(), keyword);
    else (rule as Record<StringAttributeKey, AttributeSet<string>>)[key] = this.set(() => this.string(), keyword);
  }

  /** After a keyword: at least one blank, then something. */
  private valueFollows(keyword: string): void {
    const at = this.pos;
    const blanks = this.skipBlanks();
    if (this.eof() || this.peek() === '#') this.fail(`${keyword} needs a value`, at);
    if (blanks === 0) this.fail(`expected a blank after ${keyword}, found ${show(this.tokenAt(at))}`, at);
  }

  /** `value` or `[operator] { value … }`. */
  private set<T>(value: () => T, keyword: string): AttributeSet<T> {
    let operator: SetOperator = 'equals';
    const at = this.pos;
    if (isLetter(this.peek())) {
      // A set operator is a whole word followed by blanks and "{"; otherwise it is the start of a value.
      let end = at;
      while (isWordChar(this.s[end] ?? '')) end++;
      const w = this.s.slice(at, end);
      let after = end;
      while (isBlank(this.s[after] ?? '')) after++;
      if ((SET_OPERATORS as readonly string[]).includes(w)) {
        this.pos = end;
        operator = w as SetOperator;
        if (after === end || this.s[after] !== '{') this.fail(`expected a blank and "{" after ${w}`, end);
        this.pos = after;
      } else if (after > end && this.s[after] === '{') {
        this.fail(`unknown set operator ${show(w)}: use all-of, one-of, none-of, equals, equals-ordered or match-all`, at);
      }
    }
    if (this.peek() !== '{') return { operator, values: [value()] };
    const open = this.pos;
    this.pos++;
    this.skipBlanks();
    if (this.peek() === '}') this.fail(`empty set: ${keyword} needs at least one value`, open);
    const values = [value()];
    for (;;) {
      const blanks = this.skipBlanks();
      if (this.peek() === '}') {
        this.pos++;
        return { operator, values };
      }
      if (this.eof()) this.fail('unterminated set: missing "}"', open);
      if (blanks === 0) this.fail(`expected a blank or "}" after a value, found ${show(this.tokenAt(this.pos))}`);
      values.push(value());
    }
  }

  /** `"…"` with `\"`, `\\` and `\xHH` (a byte; the bytes are read as UTF-8). */
  private string(): string {
    const start = this.pos;
    if (this.peek() !== '"') this.fail(`expected a quoted string, found ${show(this.tokenAt(start))}`);
    this.pos++;
    const chunks: Uint8Array[] = [];
    let run = this.pos;
    const flush = (): void => {
      if (this.pos > run) chunks.push(encoder.encode(this.s.slice(run, this.pos)));
    };
    for (;;) {
      if (this.eof()) this.fail('unterminated string: missing closing "', start);
      const c = this.s[this.pos]!;
      if (c === '"') {
        flush();
        this.pos++;
        break;
      }
      if (c === '\n' || c === '\r') this.fail('line break inside a string (write \\x0a or \\x0d)');
      if (c !== '\\') {
        this.pos++;
        continue;
      }
      flush();
      const e = this.peek(1);
      if (e === '"' || e === '\\') {
        chunks.push(Uint8Array.of(e.charCodeAt(0)));
        this.pos += 2;
      } else if (e === 'x') {
        const h = this.s.slice(this.pos + 2, this.pos + 4);
        if (h.length < 2 || !isHex(h[0]!) || !isHex(h[1]!)) this.fail('\\x needs two hex digits');
        chunks.push(Uint8Array.of(parseInt(h, 16)));
        this.pos += 4;
      } else if (e === '') {
        this.fail('unterminated string: missing closing "', start);
      } else {
        this.fail(`unsupported escape \\${[...this.s.slice(this.pos + 1, this.pos + 3)][0]}: strings take \\", \\\\ and \\xHH`);
      }
      run = this.pos;
    }
    if (chunks.length === 1) return decoder.decode(chunks[0]);
    let size = 0;
    for (const c of chunks) size += c.length;
    const all = new Uint8Array(size);
    let o = 0;
    for (const c of chunks) {
      all.set(c, o);
      o += c.length;
    }
    return decoder.decode(all);
  }

  private deviceId(): DeviceId {
    const at = this.pos;
    const bad = (why: string): never => this.fail(`${this.describe('device id', at)}: ${why}`, at);
    const part = (): string => {
      if (this.peek() === '*') {
        this.pos++;
        return '*';
      }
      const p = this.s.slice(this.pos, this.pos + 4);
      if (p.length < 4 || ![...p].every(isHex) || isHex(this.peek(4))) bad('expected VVVV:PPPP, 4 hex digits or * each');
      this.pos += 4;
      return p.toLowerCase();
    };
    const vendor = part();
    if (this.peek() !== ':') bad('expected VVVV:PPPP, 4 hex digits or * each');
    this.pos++;
    const product = part();
    if (vendor === '*' && product !== '*') bad('a wildcard vendor needs a wildcard product (*:*)');
    return { vendor, product };
  }

  private interfaceType(): InterfaceType {
    const at = this.pos;
    const bad = (why: string): never => this.fail(`${this.describe('interface type', at)}: ${why}`, at);
    const part = (wild: boolean): string => {
      if (wild && this.peek() === '*') {
        this.pos++;
        return '*';
      }
      if (!isHex(this.peek()) || !isHex(this.peek(1)) || isHex(this.peek(2))) bad('expected CC:SS:PP, 2 hex digits each; SS and PP may be *');
      this.pos += 2;
      return this.s.slice(this.pos - 2, this.pos).toLowerCase();
    };
    const cls = part(false);
    if (this.peek() !== ':') bad('expected CC:SS:PP, 2 hex digits each; SS and PP may be *');
    this.pos++;
    const subclass = part(true);
    if (this.peek() !== ':') bad('expected CC:SS:PP, 2 hex digits each; SS and PP may be *');
    this.pos++;
    const protocol = part(true);
    if (subclass === '*' && protocol !== '*') bad('a wildcard subclass needs a wildcard protocol (CC:*:*)');
    return { class: cls, subclass, protocol };
  }

  private conditions(): { operator: ConditionOperator; values: Condition[] } {
    const at = this.pos;
    const set = this.set(() => this.condition(), 'if');
    if (set.operator === 'match-all') this.fail('match-all does not combine conditions: use all-of, one-of, none-of, equals or equals-ordered', at);
    if (set.values.length > MAX_CONDITIONS) this.fail(`at most ${MAX_CONDITIONS} conditions in one rule`, at);
    return { operator: set.operator, values: set.values };
  }

  /** `[!]identifier[(argument)]` */
  private condition(): Condition {
    const at = this.pos;
    const negated = this.peek() === '!';
    if (negated) this.pos++;
    const nameAt = this.pos;
    if (!isLetter(this.peek()) && this.peek() !== '-') {
      this.fail(`expected a condition (true, false, random, localtime(…), rule-applied, rule-evaluated, allowed-matches(…)), found ${show(this.tokenAt(at))}`);
    }
    while (isLetter(this.peek()) || isDigit(this.peek()) || this.peek() === '-') this.pos++;
    const name = this.s.slice(nameAt, this.pos);
    if (!(CONDITION_NAMES as readonly string[]).includes(name)) this.fail(`unknown condition ${show(name)}`, nameAt);
    let argument: string | null = null;
    const argAt = this.pos + 1;
    if (this.peek() === '(') argument = this.conditionArgument();
    return this.makeCondition(name as ConditionName, negated, argument, argAt);
  }

  /** `( … )` up to the first unescaped `)`; kept raw, as USBGuard hands it to the condition. */
  private conditionArgument(): string {
    const open = this.pos;
    this.pos++;
    for (;;) {
      if (this.eof()) this.fail('unterminated condition argument: missing ")"', open);
      const c = this.s[this.pos]!;
      if (c === ')') {
        this.pos++;
        return this.s.slice(open + 1, this.pos - 1);
      }
      if (c === '\n' || c === '\r') this.fail('line break inside a condition argument');
      if (c !== '\\') {
        this.pos++;
        continue;
      }
      const e = this.peek(1);
      if (e === 'x') {
        if (!isHex(this.peek(2)) || !isHex(this.peek(3))) this.fail('\\x needs two hex digits');
        this.pos += 4;
      } else if (isDigit(e)) {
        this.pos += 2;
        for (let i = 0; i < 2 && isDigit(this.peek()); i++) this.pos++;
      } else if ('abfnrtv\\\')\n'.includes(e) && e !== '') {
        this.pos += 2;
      } else if (e === '') {
        this.fail('unterminated condition argument: missing ")"', open);
      } else {
        this.fail(`unsupported escape \\${[...this.s.slice(this.pos + 1, this.pos + 3)][0]} in a condition argument`);
      }
    }
  }

  private makeCondition(name: ConditionName, negated: boolean, argument: string | null, argAt: number): Condition {
    if (argument === '') this.fail(`${name}() has an empty argument`, argAt - 1);
    switch (name) {
      case 'true':
      case 'false':
        if (argument !== null) this.fail(`${name} takes no argument`, argAt - 1);
        return { name, negated };
      case 'random': {
        if (argument === null) return { name, negated, argument, probability: 0.5 };
        const p = /^(?:\d{1,9}(?:\.\d{0,17})?|\.\d{1,17})$/.test(argument) ? Number(argument) : NaN;
        if (!(p >= 0 && p <= 1)) this.fail(`random(${argument}): the probability must be a number from 0 to 1, e.g. random(0.25)`, argAt);
        return { name, negated, argument, probability: p };
      }
      case 'localtime': {
        if (argument === null) this.fail('localtime needs a time range, e.g. localtime(08:00-17:30)', this.pos);
        const dash = argument.indexOf('-');
        const begin = daytime(dash < 0 ? argument : argument.slice(0, dash));
        const end = dash < 0 ? begin : daytime(argument.slice(dash + 1));
        if (begin === null || end === null) this.fail(`localtime(${argument}): expected HH:MM[:SS] or HH:MM[:SS]-HH:MM[:SS]`, argAt);
        if (begin > end) this.fail(`localtime(${argument}): the range begins after it ends (a range cannot cross midnight; use two rules)`, argAt);
        return { name, negated, argument, begin, end };
      }
      case 'rule-applied':
      case 'rule-evaluated': {
        if (argument === null) return { name, negated, argument, seconds: 0 };
        const seconds = /^\d{1,9}$/.test(argument) ? Number(argument) : daytime(argument);
        if (seconds === null) this.fail(`${name}(${argument}): the past duration is SS, HH:MM or HH:MM:SS, e.g. ${name}(60) or ${name}(00:01)`, argAt);
        return { name, negated, argument, seconds };
      }
      case 'allowed-matches': {
        if (argument === null) this.fail('allowed-matches needs a query, e.g. allowed-matches(with-interface 03:00:01)', this.pos);
        if (this.depth > 0) this.fail('allowed-matches cannot be nested', argAt);
        const prefix = 'allow ';
        const inner = new Parser(prefix + argument, this.depth + 1);
        try {
          return { name, negated, argument, query: inner.parse() };
        } catch (e) {
          if (e instanceof Failure) throw new Failure(argAt + Math.max(0, e.pos - prefix.length), `allowed-matches query: ${e.message}`);
          throw e;
        }
      }
    }
  }
}

/** `H:MM`, `HH:MM` or `HH:MM:SS` → seconds since midnight, or null. */
function daytime(text: string): number | null {
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 3) return null;
  const n: number[] = [];
  for (const p of parts) {
    if (p.length < 1 || p.length > 2 || !isDigit(p[0]!) || !isDigit(p[p.length - 1]!)) return null;
    n.push(Number(p));
  }
  const [h, m, s = 0] = n as [number, number, number?];
  if (h > 23 || m > 59 || s > 59) return null;
  return h * 3600 + m * 60 + s;
}

/** 1-based column, counted in characters (code points), of a UTF-16 index. */
function columnOf(text: string, index: number): number {
  let column = 1;
  for (let i = 0; i < index && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < index) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    column++;
  }
  return column;
}

/** Parse one rule; throws UsbRuleSyntaxError (with a 1-based column) when it is not valid. */
export function parseRule(text: string): Rule {
  try {
    return new Parser(text, 0).parse();
  } catch (e) {
    if (e instanceof Failure) throw new UsbRuleSyntaxError(e.message, columnOf(text, e.pos));
    throw e;
  }
}

/** Parse one rule without throwing. */
export function tryParseRule(text: string): { ok: true; rule: Rule } | { ok: false; error: RuleError } {
  try {
    return { ok: true, rule: parseRule(text) };
  } catch (e) {
    if (e instanceof UsbRuleSyntaxError) return { ok: false, error: { column: e.column, message: e.reason } };
    throw e;
  }
}

/** The first rule that does not parse (0-based index), or null when all do. */
export function checkRules(rules: readonly string[]): { index: number; column: number; message: string } | null {
  for (let index = 0; index < rules.length; index++) {
    const r = tryParseRule(rules[index]!);
    if (!r.ok) return { index, ...r.error };
  }
  return null;
}
