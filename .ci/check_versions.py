"""Fail unless the named packages are installed at exactly the versions a constraints file pins.

Usage: python .ci/check_versions.py CONSTRAINTS NAME [NAME ...]
CI runs it in the Colab-versions environment, so a passing run proves which versions it tested.
"""

import sys
from importlib.metadata import version

pins = {}
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#")[0].strip()
    if "==" in line:
        name, pinned = line.split("==")
        pins[name.strip().lower().replace("_", "-")] = pinned.strip()
wrong = []
for name in sys.argv[2:]:
    found = version(name)
    print(f"{name} {found}")
    if found != pins[name.lower().replace("_", "-")]:
        wrong.append(f"{name} {found} instead of {pins[name]}")
if wrong:
    sys.exit("not Colab's versions: " + "; ".join(wrong))
