"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test creates empty virtual environments and bootstraps pip in them by running a cached
``get_pip_<version>.py`` (see ansible_test/_util/target/setup/requirements.py). Our machines cannot
reach the host it downloads that script from, so ``make setup`` installs this file in its place: it
bootstraps pip from the interpreter's own ``ensurepip`` and then installs the requested packages
from the package index as usual.
"""
import subprocess
import sys

# get-pip's own flags that plain ``pip install`` does not understand
_GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main():
    args = [arg for arg in sys.argv[1:] if arg not in _GET_PIP_ONLY]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"],
                          stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + args)


if __name__ == "__main__":
    main()
