#!/usr/bin/env bash
# Installs quantum-trader on a systemd machine (Debian/Ubuntu VPS):
#   binary   PREFIX/bin/quantum-trader              (PREFIX default /usr/local)
#   configs  /etc/quantum-trader/quantum-trader.toml (from config/demo.toml, only if absent),
#            model.json (only if absent), *.toml.dist references (always refreshed),
#            env (secrets, mode 0640, only if absent)
#   unit     /etc/systemd/system/quantum-trader.service
#   kit      PREFIX/share/quantum-trader/{prometheus,grafana}
#   user     system user `quantum-trader`, state dir /var/lib/quantum-trader (journal)
# Idempotent: run it again after `git pull` to upgrade; local edits to the
# config, model and env files are kept.
#
# Options:
#   --destdir DIR   install under DIR (staging / dry run): no user is created,
#                   nothing is chowned, systemd is not reloaded
#   --prefix DIR    binary and kit prefix (default /usr/local)
#   --binary FILE   install this binary instead of building one
#   --no-build      use target/release/quantum-trader as built
#   --config FILE   the config to install when none exists (default config/demo.toml)
set -euo pipefail
cd "$(dirname "$0")/.."

DESTDIR="" PREFIX=/usr/local BINARY="" BUILD=1 CONFIG=config/demo.toml
while [ $# -gt 0 ]; do
  case "$1" in
    --destdir) DESTDIR="${2:?--destdir needs a directory}"; shift 2 ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
    --binary) BINARY="${2:?--binary needs a file}"; BUILD=0; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --config) CONFIG="${2:?--config needs a file}"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -n "$DESTDIR" ]; then DESTDIR="$(mkdir -p "$DESTDIR" && cd "$DESTDIR" && pwd)"; fi

USER_NAME=quantum-trader
ETC="$DESTDIR/etc/quantum-trader"
STATE=/var/lib/quantum-trader
UNIT="$DESTDIR/etc/systemd/system/quantum-trader.service"
SHARE="$DESTDIR$PREFIX/share/quantum-trader"
ROOT_STEPS=1
if [ -n "$DESTDIR" ]; then
  ROOT_STEPS=0
elif [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (or use --destdir DIR to stage without root)" >&2
  exit 1
fi

say() { echo "install: $*"; }

# 1. The binary.
if [ -z "$BINARY" ]; then
  BINARY="${CARGO_TARGET_DIR:-target}/release/quantum-trader"
  if [ "$BUILD" = 1 ]; then
    say "building the release binary (cargo build --release --locked)"
    cargo build --release --locked
  fi
fi
[ -x "$BINARY" ] || { echo "install.sh: no binary at $BINARY (build first or pass --binary)" >&2; exit 1; }
install -D -m 0755 "$BINARY" "$DESTDIR$PREFIX/bin/quantum-trader"
say "binary -> $DESTDIR$PREFIX/bin/quantum-trader"

# 2. Configs: the live files only when absent; references always.
install -d -m 0750 "$ETC"
installed_config() {
  # Absolute paths for the service: model in /etc, journal in the state dir.
  sed -e 's#^path = "config/model.json"#path = "/etc/quantum-trader/model.json"#' \
      -e "s#^dir = \"var/#dir = \"$STATE/#" "$1"
}
for f in demo paper; do
  installed_config "config/$f.toml" > "$ETC/$f.toml.dist"
  chmod 0640 "$ETC/$f.toml.dist"
done
if [ -e "$ETC/quantum-trader.toml" ]; then
  say "keeping $ETC/quantum-trader.toml (references refreshed: *.toml.dist)"
else
  installed_config "$CONFIG" > "$ETC/quantum-trader.toml"
  chmod 0640 "$ETC/quantum-trader.toml"
  say "config -> $ETC/quantum-trader.toml (from $CONFIG)"
fi
if [ -e "$ETC/model.json" ]; then
  say "keeping $ETC/model.json"
else
  install -m 0644 config/model.json "$ETC/model.json"
  say "model -> $ETC/model.json"
fi
if [ ! -e "$ETC/env" ]; then
  umask 027
  cat > "$ETC/env" <<'ENV'
# Secrets for quantum-trader, read by systemd (EnvironmentFile=). One VAR=value
# per line; the config names the variables, never the values. Keep mode 0640.
# QT_ADMIN_TOKEN=change-me-to-a-long-random-string
# BINANCE_API_KEY=
# BINANCE_API_SECRET=
ENV
  chmod 0640 "$ETC/env"
  say "secrets file -> $ETC/env (edit it; mode 0640)"
fi

# 3. The unit, pointing at the installed binary.
install -d -m 0755 "$(dirname "$UNIT")"
sed "s#/usr/local/bin/quantum-trader#$PREFIX/bin/quantum-trader#g" scripts/quantum-trader.service > "$UNIT"
chmod 0644 "$UNIT"
say "unit -> $UNIT"

# 4. Monitoring kit.
install -d -m 0755 "$SHARE/prometheus" "$SHARE/grafana"
install -m 0644 config/prometheus/alerts.yml config/prometheus/alerts_test.yml config/prometheus/prometheus.yml "$SHARE/prometheus/"
install -m 0644 config/grafana/quantum-trader.json "$SHARE/grafana/"
say "prometheus rules and grafana dashboard -> $SHARE"

# 5. Root-only steps: user, ownership, state dir, systemd.
if [ "$ROOT_STEPS" = 1 ]; then
  if ! getent passwd "$USER_NAME" >/dev/null; then
    useradd --system --user-group --no-create-home --home-dir "$STATE" --shell /usr/sbin/nologin "$USER_NAME"
    say "created system user $USER_NAME"
  fi
  chown -R root:"$USER_NAME" "$ETC"
  install -d -o "$USER_NAME" -g "$USER_NAME" -m 0750 "$STATE" "$STATE/journal"
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    say "systemd reloaded"
  else
    say "systemd is not running here: unit installed, not loaded"
  fi
else
  install -d -m 0750 "$DESTDIR$STATE" "$DESTDIR$STATE/journal"
  say "staged under $DESTDIR: skipped creating user $USER_NAME, chown and systemctl daemon-reload"
fi

cat <<NEXT
install: done. Next:
  $PREFIX/bin/quantum-trader doctor --config /etc/quantum-trader/quantum-trader.toml
  systemctl enable --now quantum-trader && systemctl status quantum-trader
  $PREFIX/bin/quantum-trader healthcheck
NEXT
