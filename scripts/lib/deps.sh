# Shared by scripts/test, scripts/demo and scripts/bench: install missing tools on Debian.

# ensure_debian_packages CMD:PACKAGE...
# Installs PACKAGE when CMD is not on PATH (as root, with apt-get); otherwise says what to run.
ensure_debian_packages() {
    local missing=() pair cmd pkg
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        if ! command -v "$cmd" >/dev/null 2>&1; then
            case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing: ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
        # Debian's packages may start their services; slotwatch's tests and demo use their
        # own ports, but a stray daemon holding 9090/9093 would confuse a person, so stop it.
        for svc in redis-server prometheus prometheus-alertmanager prometheus-redis-exporter; do
            if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
        done
    else
        echo "missing: ${missing[*]}" >&2
        echo "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
}

# ensure_python_module MODULE PIP-SPEC
ensure_python_module() {
    if python3 -c "import $1" >/dev/null 2>&1; then
        return 0
    fi
    echo "installing python module $2" >&2
    python3 -m pip install --quiet "$2" || python3 -m pip install --quiet --break-system-packages "$2"
}
