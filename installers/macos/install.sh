#!/bin/sh
# termguard agent for macOS: sudo ./install.sh [ENROLL.json]
# Installs the executable, the launchd daemon and the log rotation, enrolls from an enrollment file
# ({"server","token","caHash"}: the argument, else enroll.json beside this script, else one already in
# /Library/Application Support/termguard, e.g. placed by MDM), deletes the copy in the state folder,
# and loads the daemon. Also an upgrade: the state (key, certificates, spool) is kept.
# ROOT=DIR installs under DIR instead of / (tests); launchctl is then whatever PATH finds.
set -eu

ROOT="${ROOT:-}"
HERE=$(cd "$(dirname "$0")" && pwd)
LABEL=org.termguard.agent
BIN_DIR="$ROOT/usr/local/bin"
BIN="$BIN_DIR/termguard-agent"
STATE="$ROOT/Library/Application Support/termguard"
ENROLL="$STATE/enroll.json"
PLIST="$ROOT/Library/LaunchDaemons/$LABEL.plist"
LOGS="$ROOT/Library/Logs/termguard"
NEWSYSLOG="$ROOT/etc/newsyslog.d/termguard.conf"

if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
	echo "install.sh: run as root (sudo $0)" >&2
	exit 1
fi

# One string field of enroll.json (values are a URL, a URL-safe token and sha256:hex: no quotes or escapes).
field() {
	tr -d '\n\r' < "$ENROLL" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"\\\\]*\)\".*/\1/p"
}

remove_token() {
	# rm -P overwrites before unlinking on macOS; elsewhere (tests) plain rm.
	rm -P "$ENROLL" 2>/dev/null || rm -f "$ENROLL"
}

upgrade=no
if [ -f "$PLIST" ]; then
	upgrade=yes
	# The agent reports agent.stopped with this cause; then the old daemon goes.
	[ -d "$STATE" ] && echo upgrade > "$STATE/stop-reason"
	launchctl bootout "system/$LABEL" 2>/dev/null || true
	rm -f "$STATE/stop-reason"   # read by the agent if it was running; else it must not label a later stop
fi

mkdir -p "$BIN_DIR" "$ROOT/Library/LaunchDaemons" "$LOGS" "$ROOT/etc/newsyslog.d"
mkdir -p "$STATE"
chmod 0700 "$STATE"
cp "$HERE/termguard-agent" "$BIN.new"
chmod 0755 "$BIN.new"
mv -f "$BIN.new" "$BIN"
cp "$HERE/$LABEL.plist" "$PLIST.new"
chmod 0644 "$PLIST.new"
mv -f "$PLIST.new" "$PLIST"
cp "$HERE/termguard.newsyslog.conf" "$NEWSYSLOG"
chmod 0644 "$NEWSYSLOG"
chmod 0750 "$LOGS"
if [ "$(id -u)" = 0 ]; then chown 0:0 "$BIN" "$PLIST" "$NEWSYSLOG" "$STATE" "$LOGS"; fi   # root:wheel

# The enrollment file: an argument or one beside this script is copied into the state folder (0600).
src="${1:-}"
[ -z "$src" ] && [ -f "$HERE/enroll.json" ] && src="$HERE/enroll.json"
if [ -n "$src" ]; then
	(umask 077 && cp "$src" "$ENROLL")
fi
if [ -f "$ENROLL" ]; then
	chmod 0600 "$ENROLL"
	if [ -f "$STATE/agent.crt" ]; then
		echo "install.sh: already enrolled; $ENROLL not used, deleting it" >&2
		remove_token
	else
		server=$(field server); token=$(field token); cahash=$(field caHash)
		case "$server" in https://*) ;; *) server= ;; esac
		case "$token" in *[!A-Za-z0-9_.~-]*) token= ;; esac
		case "$cahash" in sha256:*) ;; *) cahash= ;; esac
		if [ -z "$server" ] || [ -z "$token" ] || [ -z "$cahash" ]; then
			echo "install.sh: $ENROLL needs {\"server\":\"https://…\",\"token\":\"…\",\"caHash\":\"sha256:…\"}; not enrolled" >&2
		elif TERMGUARD_TOKEN="$token" "$BIN" enroll --server "$server" --ca-hash "$cahash" --state "$STATE"; then
			remove_token
		else
			# Kept (0600): the agent retries from it at each start, or run install.sh again.
			echo "install.sh: enrollment failed; $ENROLL kept for a retry" >&2
		fi
	fi
fi
if [ -n "$src" ] && [ -f "$src" ]; then
	echo "install.sh: $src still holds the token; delete it once every machine is enrolled" >&2
fi

launchctl enable "system/$LABEL" 2>/dev/null || true
launchctl bootstrap system "$PLIST"
echo "termguard agent $([ "$upgrade" = yes ] && echo upgraded || echo installed); daemon $LABEL loaded"
