#!/bin/sh
# Installs the Python kernel's data-science environment
# (crates/kernels/requirements.txt) into a cache directory for the tests:
# once per version of that list, ~330 MB, about a minute from PyPI.
# The kernel tests and `serve` tests look for it where this puts it.
#
#   scripts/prepare-test-python-env.sh        # prints the directory
#
# E2B_NATIVE_PYTHON_ENV: the directory (default
#   ${XDG_CACHE_HOME:-$HOME/.cache}/e2b-native/python-env)
# E2B_NATIVE_PYTHON: the interpreter it is for (default /usr/bin/python3)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
requirements="$root/crates/kernels/requirements.txt"
dir=${E2B_NATIVE_PYTHON_ENV:-${XDG_CACHE_HOME:-$HOME/.cache}/e2b-native/python-env}
python=${E2B_NATIVE_PYTHON:-/usr/bin/python3}

# A copy of the list it was installed from marks a complete environment.
if cmp -s "$requirements" "$dir/.requirements.txt"; then
  echo "$dir"
  exit 0
fi
if ! "$python" -m pip --version >/dev/null 2>&1; then
  echo "prepare-test-python-env: $python has no pip; install it (Debian: apt-get install python3-pip)" >&2
  exit 1
fi
staging="$dir.partial.$$"
trap 'rm -rf "$staging"' EXIT
mkdir -p "$(dirname "$dir")"
"$python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
  --target "$staging" -r "$requirements" >&2
cp "$requirements" "$staging/.requirements.txt"
rm -rf "$dir"
mv "$staging" "$dir"
echo "$dir"
