"""Offline stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test fetches its bootstrap script from a host this project cannot
reach; the same job is done here with a pip wheel from the package index,
which scripts/test.sh downloads next to this file.  ansible-test runs it as
`python get_pip.py [pip install options] PACKAGES`.
"""

import glob
import os
import runpy
import sys

here = os.path.dirname(os.path.abspath(__file__))
wheels = sorted(glob.glob(os.path.join(here, "pip-*.whl")))
if not wheels:
    sys.exit(f"no pip wheel next to {__file__}; run scripts/test.sh sanity")

# A wheel is a zip of importable code, so pip can run from it directly.
sys.path.insert(0, wheels[-1])
# --no-setuptools and --no-wheel belong to get-pip itself: pip installs
# neither unless asked.
options = [arg for arg in sys.argv[1:]
           if arg not in ("--no-setuptools", "--no-wheel")]
sys.argv = ["pip", "install", *options]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
