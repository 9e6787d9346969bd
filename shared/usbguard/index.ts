/** USBGuard's rule language for usb.rules: parse, check, format, evaluate. Pure; see README.md. */
export * from './ast.js';
export { parseRule, tryParseRule, checkRules, UsbRuleSyntaxError, type RuleError } from './parse.js';
export { formatRule, formatCondition, formatDeviceId, formatInterface, quoteString } from './format.js';
export {
  attributesMatch, conditionHolds, conditionsMet, evaluateRules, evaluateRulesDetailed, ruleMatches, setMatches,
  type Decision, type EvalContext,
} from './evaluate.js';
