"""The gaming-box lab: a cached Debian 12 guest image and QEMU guests.

Run it as ``python -m lab`` (see lab/README.md); tests use ``lab.api``.
"""
