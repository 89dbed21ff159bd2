#!/bin/sh
# Installs the Python kernel's data-science environment
# (crates/kernels/requirements.txt) into a cache directory for the tests:
# once per version of that list, ~330 MB, about a minute from PyPI.
# The kernel tests put it on PYTHONPATH. The directory is also a venv
# (bin/python3, a copy of the interpreter, whose site-packages points back
# at it) so that `serve` tests can run sandboxes on a Python that has it:
# serve binds an interpreter's install prefix into its sandboxes.
#
#   scripts/prepare-test-python-env.sh        # prints the directory
#
# E2B_NATIVE_PYTHON_ENV: the directory (default, as the package cache's:
#   /var/cache/e2b-native/python-env for root, whose sandboxes cannot read
#   /root; else ${XDG_CACHE_HOME:-$HOME/.cache}/e2b-native/python-env)
# E2B_NATIVE_PYTHON: the interpreter it is for (default /usr/bin/python3)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
requirements="$root/crates/kernels/requirements.txt"
if [ "$(id -u)" = 0 ]; then cache=/var/cache; else cache=${XDG_CACHE_HOME:-$HOME/.cache}; fi
dir=${E2B_NATIVE_PYTHON_ENV:-$cache/e2b-native/python-env}
python=${E2B_NATIVE_PYTHON:-/usr/bin/python3}

# A copy of the list it was installed from marks a complete environment.
if cmp -s "$requirements" "$dir/.requirements.txt" && [ -x "$dir/bin/python3" ]; then
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
"$python" -m venv --copies --without-pip "$staging" >&2
site=$("$staging/bin/python3" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$dir" > "$site/e2b-native-python-env.pth"
cp "$requirements" "$staging/.requirements.txt"
rm -rf "$dir"
mv "$staging" "$dir"
echo "$dir"
