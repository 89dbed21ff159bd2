"""Whether a user-land startup snapshot makes Node start cheaper, for the
warm pool's refill (each pooled Node sandbox pays one Node start).

Builds a snapshot (`node --build-snapshot`) whose entry does what the warm
bootstrap pre-warms (process.stdout/stderr) and whose main function runs the
code given as an argument in the main context, then times, with an empty
environment: `node -e CODE` (Node's built-in snapshot), the user snapshot
(`node --snapshot-blob`), and no snapshot at all (`--no-node-snapshot`).
Prints p50 wall ms and CPU ms (the child's user + system) per start.

    python3 bench/node-snapshot.py [starts]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 60
NODE = shutil.which("node")
ENTRY = """
const v8 = require('v8')
process.stdout; process.stderr
v8.startupSnapshot.setDeserializeMainFunction(() => {
  new (require('vm').Script)(process.argv[2], { filename: '[eval]' }).runInThisContext()
})
"""


def measure(argv):
    times, before = [], os.times()
    for _ in range(N):
        start = time.perf_counter()
        out = subprocess.run(argv, env={}, capture_output=True, check=True).stdout
        times.append((time.perf_counter() - start) * 1000)
        assert out == b"1\n", out
    after = os.times()
    cpu = (after.children_user + after.children_system
           - before.children_user - before.children_system) * 1000 / N
    return sorted(times)[N // 2], cpu


with tempfile.TemporaryDirectory() as tmp:
    entry, blob = os.path.join(tmp, "entry.js"), os.path.join(tmp, "snap.blob")
    with open(entry, "w") as f:
        f.write(ENTRY)
    subprocess.run([NODE, "--snapshot-blob", blob, "--build-snapshot", entry], check=True, cwd=tmp)
    print(f"node {subprocess.check_output([NODE, '--version']).decode().strip()}, "
          f"snapshot {os.path.getsize(blob) >> 10} KiB, {N} starts each, load {os.getloadavg()[0]:.2f}")
    print("| start | p50 ms | CPU ms |\n|---|---|---|")
    for name, argv in [
        ("`node -e` (built-in snapshot)", [NODE, "-e", "console.log(1)"]),
        ("`node --snapshot-blob` (user snapshot)", [NODE, "--snapshot-blob", blob, "x", "console.log(1)"]),
        ("`node --no-node-snapshot -e`", [NODE, "--no-node-snapshot", "-e", "console.log(1)"]),
    ]:
        p50, cpu = measure(argv)
        print(f"| {name} | {p50:.1f} | {cpu:.1f} |")
