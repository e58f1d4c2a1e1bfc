# Shared by tools/test.sh and tools/run.sh; source it, do not run it.

PARLEY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PARLEY_JOBS="${PARLEY_JOBS:-2}"

parley_log() {
    printf '\n\033[1m==> %s\033[0m\n' "$*"
}

parley_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# parley_ensure_packages PKG...: apt-get install whichever of PKG is not installed.
parley_ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 ||
        parley_die "missing packages (${missing[*]}) and no apt-get to install them"

    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 ||
            parley_die "missing packages (${missing[*]}); run as root or install sudo"
        sudo=(sudo)
    fi
    parley_log "installing ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
        parley_die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
        parley_die "apt-get install ${missing[*]} failed"
}

# parley_cmake_generator: Ninja when available (faster no-op rebuilds), else the default.
parley_cmake_generator_args() {
    if command -v ninja >/dev/null 2>&1; then
        printf '%s\n' -G Ninja
    fi
}
