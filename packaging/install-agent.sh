#!/bin/sh
# Installs, or upgrades in place, the torpor agent as a systemd service:
#   <prefix>/venv             its own virtualenv with the torpor wheel (default /opt/torpor)
#   <config-dir>/agent.toml   written once from --control-plane and --join-token (0600)
#   <config-dir>/join-token   the one-time join token (0600), read by the agent at start
#   /etc/systemd/system/torpor-agent.service (+ .d/workspace.conf with --workspace)
# Running it again upgrades the package and the unit and restarts the agent; an existing
# agent.toml and join token are never rewritten (the host keeps its identity).
#
#   sudo packaging/install-agent.sh --control-plane cp.example:8767 \
#       --join-token tjt_... --wheel dist/torpor-0.1.0-py3-none-any.whl
set -eu

usage() {
    cat <<'USAGE'
usage: install-agent.sh --control-plane HOST:PORT --join-token TOKEN (--wheel PATH | --from-source DIR)
                        [--prefix /opt/torpor] [--config-dir /etc/torpor] [--workspace DIR]
                        [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]
                        [--python python3] [--no-start] [--root DIR]
--control-plane and --join-token are needed only on the first install (no agent.toml yet).
--tls-* copy the files into <config-dir>/tls (again on every run: that is how to renew).
--root DIR installs under DIR (for tests and image builds) and never starts anything.
USAGE
}

die() { echo "install-agent.sh: $*" >&2; exit 1; }
say() { echo "install-agent.sh: $*"; }

CONTROL_PLANE="" JOIN_TOKEN="" WHEEL="" SOURCE="" WORKSPACE=""
PREFIX=/opt/torpor CONFIG_DIR=/etc/torpor ROOT="" START=1 PYTHON=python3
TLS_CA="" TLS_CERT="" TLS_KEY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --control-plane) CONTROL_PLANE=${2:?}; shift 2 ;;
        --join-token) JOIN_TOKEN=${2:?}; shift 2 ;;
        --wheel) WHEEL=${2:?}; shift 2 ;;
        --from-source) SOURCE=${2:?}; shift 2 ;;
        --prefix) PREFIX=${2:?}; shift 2 ;;
        --config-dir) CONFIG_DIR=${2:?}; shift 2 ;;
        --workspace) WORKSPACE=${2:?}; shift 2 ;;
        --tls-ca) TLS_CA=${2:?}; shift 2 ;;
        --tls-cert) TLS_CERT=${2:?}; shift 2 ;;
        --tls-key) TLS_KEY=${2:?}; shift 2 ;;
        --python) PYTHON=${2:?}; shift 2 ;;
        --root) ROOT=${2:?}; shift 2 ;;
        --no-start) START=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
done

HERE=$(cd "$(dirname "$0")" && pwd)
UNIT_SOURCE="$HERE/torpor-agent.service"
VENV="$ROOT$PREFIX/venv"
CONF="$ROOT$CONFIG_DIR"
UNIT_DIR="$ROOT/etc/systemd/system"

# Everything is checked before anything is written.
[ -n "$WHEEL" ] || [ -n "$SOURCE" ] || die "pass --wheel PATH (from 'make dist') or --from-source DIR"
[ -z "$WHEEL" ] || [ -z "$SOURCE" ] || die "pass --wheel or --from-source, not both"
[ -z "$WHEEL" ] || [ -f "$WHEEL" ] || die "no wheel at $WHEEL: build one with 'make dist'"
[ -z "$SOURCE" ] || [ -f "$SOURCE/pyproject.toml" ] || die "$SOURCE is not a torpor source tree"
[ -f "$UNIT_SOURCE" ] || die "torpor-agent.service is missing next to this script ($HERE)"
if [ ! -f "$CONF/agent.toml" ]; then
    [ -n "$CONTROL_PLANE" ] || die "first install: pass --control-plane HOST:PORT"
    [ -n "$JOIN_TOKEN" ] || die "first install: pass --join-token (torpor-controlplane tokens create)"
fi
[ -z "$TLS_CERT$TLS_KEY" ] || { [ -n "$TLS_CERT" ] && [ -n "$TLS_KEY" ]; } \
    || die "pass --tls-cert and --tls-key together"
for file in "$TLS_CA" "$TLS_CERT" "$TLS_KEY"; do
    [ -z "$file" ] || [ -r "$file" ] || die "cannot read $file"
done
command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install python3 (>= 3.11) and python3-venv"

# install_file SRC DEST MODE: temp file in the destination's directory, then rename, so a
# crash leaves the old file or the new one, never half of one.
install_file() {
    tmp="$2.tmp.$$"
    cp "$1" "$tmp"
    chmod "$3" "$tmp"
    sync "$tmp" 2>/dev/null || true
    mv -f "$tmp" "$2"
}

# 1. The virtualenv (kept across upgrades) and the package.
mkdir -p "$ROOT$PREFIX"
if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtualenv $PREFIX/venv"
    "$PYTHON" -m venv "$VENV" || die "could not create a virtualenv: on Debian, apt-get install python3-venv"
fi
PACKAGE=${WHEEL:-$SOURCE}
say "installing torpor from $PACKAGE"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$PACKAGE"
# The same version number rebuilt is still a new build: put exactly this one in place.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$PACKAGE"

# 2. TLS files (copied on every run, so re-running renews them).
mkdir -p "$CONF"
chmod 0755 "$CONF"
if [ -n "$TLS_CA$TLS_CERT" ]; then
    mkdir -p "$CONF/tls"
    chmod 0700 "$CONF/tls"
    [ -z "$TLS_CA" ] || install_file "$TLS_CA" "$CONF/tls/ca.pem" 0644
    [ -z "$TLS_CERT" ] || install_file "$TLS_CERT" "$CONF/tls/agent.crt" 0644
    [ -z "$TLS_KEY" ] || install_file "$TLS_KEY" "$CONF/tls/agent.key" 0600
fi

# 3. The config, only when there is none: it names the join token file, and the host's
# credential in /var/lib/torpor belongs to the control plane that token came from.
if [ -f "$CONF/agent.toml" ]; then
    say "keeping $CONFIG_DIR/agent.toml (upgrade in place; edit it to change settings)"
else
    umask 077
    printf '%s\n' "$JOIN_TOKEN" > "$CONF/join-token.new"
    install_file "$CONF/join-token.new" "$CONF/join-token" 0600
    rm -f "$CONF/join-token.new"
    {
        echo "# Written by install-agent.sh; every option: agent.example.toml next to it."
        echo "[control_plane]"
        echo "address = \"$CONTROL_PLANE\""
        echo "join_token_file = \"$CONFIG_DIR/join-token\""
        [ -z "$TLS_CA" ] || echo "tls_ca_file = \"$CONFIG_DIR/tls/ca.pem\""
        [ -z "$TLS_CERT" ] || echo "tls_cert_file = \"$CONFIG_DIR/tls/agent.crt\""
        [ -z "$TLS_KEY" ] || echo "tls_key_file = \"$CONFIG_DIR/tls/agent.key\""
        echo ""
        echo "[log]"
        echo "format = \"json\""
        if [ -n "$WORKSPACE" ]; then
            echo ""
            echo "[snapshot]"
            echo "workspace = \"$WORKSPACE\""
        fi
    } > "$CONF/agent.toml.new"
    install_file "$CONF/agent.toml.new" "$CONF/agent.toml" 0600
    rm -f "$CONF/agent.toml.new"
    umask 022
    say "wrote $CONFIG_DIR/agent.toml for the control plane at $CONTROL_PLANE"
fi
install_file "$HERE/agent.example.toml" "$CONF/agent.example.toml" 0644

# 4. The unit, with this install's paths, and the workspace drop-in.
mkdir -p "$UNIT_DIR"
sed -e "s#/opt/torpor/#$PREFIX/#g" -e "s#/etc/torpor/#$CONFIG_DIR/#g" "$UNIT_SOURCE" \
    > "$UNIT_DIR/torpor-agent.service.new"
install_file "$UNIT_DIR/torpor-agent.service.new" "$UNIT_DIR/torpor-agent.service" 0644
rm -f "$UNIT_DIR/torpor-agent.service.new"
if [ -n "$WORKSPACE" ]; then
    mkdir -p "$UNIT_DIR/torpor-agent.service.d"
    printf '# Written by install-agent.sh: restore writes the workspace.\n[Service]\nReadWritePaths=%s\n' \
        "$WORKSPACE" > "$UNIT_DIR/torpor-agent.service.d/workspace.conf.new"
    install_file "$UNIT_DIR/torpor-agent.service.d/workspace.conf.new" \
        "$UNIT_DIR/torpor-agent.service.d/workspace.conf" 0644
    rm -f "$UNIT_DIR/torpor-agent.service.d/workspace.conf.new"
fi

# 5. Enable and (re)start, so an upgrade runs the new code.
if [ "$START" = 0 ] || [ -n "$ROOT" ]; then
    say "installed; not started (--no-start or --root): systemctl enable --now torpor-agent"
elif [ ! -d /run/systemd/system ]; then
    say "installed; not started: systemd is not PID 1 here; run $PREFIX/venv/bin/torpor-agent run --config $CONFIG_DIR/agent.toml"
else
    systemctl daemon-reload
    systemctl enable --quiet torpor-agent.service
    systemctl restart torpor-agent.service
    say "torpor-agent is running: journalctl -u torpor-agent -f"
fi
