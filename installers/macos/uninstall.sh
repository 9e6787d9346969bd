#!/bin/sh
# termguard agent for macOS: sudo ./uninstall.sh [--purge]
# Unloads the daemon and removes the executable, the plist, the log rotation and the logs. The state
# (/Library/Application Support/termguard: identity and spool) is kept unless --purge.
# ROOT=DIR works under DIR instead of / (tests).
set -eu

ROOT="${ROOT:-}"
LABEL=org.termguard.agent
STATE="$ROOT/Library/Application Support/termguard"
PLIST="$ROOT/Library/LaunchDaemons/$LABEL.plist"

if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
	echo "uninstall.sh: run as root (sudo $0)" >&2
	exit 1
fi
purge=no
case "${1:-}" in
	--purge) purge=yes ;;
	"") ;;
	*) echo "usage: uninstall.sh [--purge]" >&2; exit 2 ;;
esac

# The agent reports agent.stopped with cause "uninstall" when launchd stops it.
[ -d "$STATE" ] && echo uninstall > "$STATE/stop-reason"
launchctl bootout "system/$LABEL" 2>/dev/null || true
rm -f "$PLIST" "$ROOT/usr/local/bin/termguard-agent" "$ROOT/etc/newsyslog.d/termguard.conf"
rm -rf "$ROOT/Library/Logs/termguard"
if [ "$purge" = yes ]; then
	rm -rf "$STATE"
else
	rm -f "$STATE/stop-reason"
fi
echo "termguard agent removed$([ "$purge" = yes ] && echo ', state purged' || echo "; state kept in $STATE")"
