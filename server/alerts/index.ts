/** Alert forwarding (console issue, item 4): new violations to syslog (RFC 5424 over TCP/TLS) and/or a JSON webhook. */
export { AlertForwarder, type AlertForwarderOptions, type AlertForwarderStats } from './forwarder.js';
export { AlertConfigSchema, validateAlertConfig, DEFAULT_FACILITY, DEFAULT_APP_NAME, type AlertConfig, type SyslogTargetConfig, type WebhookTargetConfig } from './config.js';
export { formatSyslog, frameOctetCounting, webhookBody, SD_ID, SD_ENTERPRISE, SYSLOG_SEVERITY } from './format.js';
export { signBody, SIGNATURE_HEADER } from './webhook.js';
export type { AlertMessage, TargetStats } from './types.js';
