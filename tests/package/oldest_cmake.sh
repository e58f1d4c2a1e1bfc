#!/usr/bin/env bash
# Runs the package tests (tests/package, cmake/PackageTest.cmake) with the oldest CMake
# that Debian still packages, 3.18 from Debian 11 (bullseye), to check that parley's
# minimum (3.14) is not a claim only. The package comes from Debian's archive through
# apt with private lists and is unpacked under build/, so the system is left as it is.
#
#   tests/package/oldest_cmake.sh        (from the repository root; needs root for apt-get download)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

work="$PWD/build/oldest-cmake"
apt_dir="$work/apt"
root="$work/root"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache" "$apt_dir/debs"
echo "deb http://deb.debian.org/debian bullseye main" > "$apt_dir/sources.list"
apt_options=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-"
             -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")

if [ ! -x "$root/usr/bin/cmake" ]; then
    apt-get "${apt_options[@]}" update
    # cmake links libjsoncpp.so.24, which newer Debian releases replaced.
    (cd "$apt_dir/debs" && apt-get "${apt_options[@]}" download cmake/bullseye cmake-data/bullseye libjsoncpp24/bullseye)
    for deb in "$apt_dir"/debs/*.deb; do dpkg -x "$deb" "$root"; done
fi
export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
"$root/usr/bin/cmake" --version | head -n 1

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
"$root/usr/bin/cmake" -S . -B "$work/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Debug
(cd "$work/build" && "$root/usr/bin/ctest" -R '^parley\.package\.' --output-on-failure -j "${PARLEY_JOBS:-2}")
