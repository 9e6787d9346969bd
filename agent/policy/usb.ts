/**
 * The USB verdict: what to do with one device under the policy (contract in DESIGN.md).
 *   1. hubs pass (what hangs from them is judged on its own);
 *   2. a valid temporary exception for this device allows it;
 *   3. `usb.rules` (USBGuard language), first match wins, enforced as written;
 *   4. keyboards and mice alone are never blocked;
 *   5. storage or networking combined with a keyboard (BadUSB) is blocked whole;
 *   6. storage (08) and still-image/MTP (06) devices not on `usb.allow` get `usb.mode`;
 *   7. anything else passes (network adapters are second paths: the egress control reports them).
 * Under `audit` a would-be block or read-only is reported, never enforced — except an explicit rule.
 */
import { deviceKinds, type UsbDevice } from '../../shared/usb.js';
import type { Policy } from '../../shared/policy.js';
import type { UsbException } from '../../shared/usb-exception.js';
import { evaluateRules, parseRule, type EvalContext, type Rule } from '../../shared/usbguard/index.js';

export type UsbAction = 'allow' | 'block' | 'readonly';

export interface UsbDecision {
  action: UsbAction;
  /** False when the action is only reported (audit mode). */
  enforce: boolean;
  reason: 'hub' | 'exception' | 'rule' | 'hid-only' | 'badusb' | 'allow-list' | 'mode' | 'not-storage';
  rule?: { index: number; text: string; target: string };
  exceptionId?: string;
  kinds: ReturnType<typeof deviceKinds>;
}

export interface CompiledUsbPolicy {
  mode: Policy['usb']['mode'];
  allow: Policy['usb']['allow'];
  rules: { rule: Rule; text: string }[];
}

export function compileUsbPolicy(p: Policy['usb']): CompiledUsbPolicy {
  // The policy was validated when it was set and again when applied: every rule parses.
  return { mode: p.mode, allow: p.allow, rules: p.rules.map((text) => ({ rule: parseRule(text), text })) };
}

function onAllowList(d: UsbDevice, allow: Policy['usb']['allow']): boolean {
  return allow.some((a) => a.vendorId.toLowerCase() === d.vendorId
    && (a.productId === undefined || a.productId.toLowerCase() === d.productId)
    && (a.serial === undefined || a.serial === d.serial));
}

export function decideUsb(d: UsbDevice, p: CompiledUsbPolicy, o: { exceptions: UsbException[]; ctx: EvalContext }): UsbDecision {
  const kinds = deviceKinds(d);
  if (kinds.hub && !kinds.storage && !kinds.hid && !kinds.network) return { action: 'allow', enforce: true, reason: 'hub', kinds };
  const ex = o.exceptions.find((e) => e.vendorId.toLowerCase() === d.vendorId && e.productId.toLowerCase() === d.productId && e.serial === d.serial);
  if (ex) return { action: 'allow', enforce: true, reason: 'exception', exceptionId: ex.id, kinds };
  const hit = evaluateRules(p.rules.map((r) => r.rule), d, o.ctx);
  if (hit) {
    const text = p.rules[hit.index]!.text;
    return { action: hit.target === 'allow' ? 'allow' : 'block', enforce: true, reason: 'rule', rule: { index: hit.index, text, target: hit.target }, kinds };
  }
  const enforce = p.mode !== 'audit';
  if (kinds.hid && !kinds.storage && !kinds.network) return { action: 'allow', enforce: true, reason: 'hid-only', kinds };
  if (kinds.hid && (kinds.storage || kinds.network)) return { action: 'block', enforce, reason: 'badusb', kinds };
  if (kinds.storage) {
    if (onAllowList(d, p.allow)) return { action: 'allow', enforce: true, reason: 'allow-list', kinds };
    return { action: p.mode === 'readonly' ? 'readonly' : 'block', enforce, reason: 'mode', kinds };
  }
  return { action: 'allow', enforce: true, reason: 'not-storage', kinds };
}
