"""Stand-in for the pip bootstrap script that `ansible-test --venv` downloads.

ansible-test fetches get-pip.py from a CI file host that our machines cannot reach; it documents
saving a bootstrap script to ~/.ansible/test/cache/ by hand instead. This one installs pip from the
interpreter's bundled wheel (ensurepip) and then runs `pip install` with the arguments ansible-test
passes (the pinned pip version among them). ansible-test hides the machine's pip configuration
(PIP_CONFIG_FILE=/dev/null), so the bundled pip is pointed at the system CA store explicitly; the
pinned pip then verifies TLS with the system store by itself (truststore).
"""

import ensurepip
import os
import ssl
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
cafile = ssl.get_default_verify_paths().openssl_cafile
if cafile and os.path.exists(cafile):
    args = ["--cert", cafile, *args]
ensurepip.bootstrap(upgrade=True)
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
