"""The installed loader: one copy of the module_utils, cheap to start."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

from ansible_collections.gamingbox.sandbox.plugins.module_utils import (
    _netfilter_install as install,
)

# Imports the boot-time loader may not pay for: each costs tens of
# milliseconds under emulation, or needs Ansible.
EXPENSIVE = {"dataclasses", "typing", "re", "tempfile", "ipaddress",
             "hashlib", "argparse", "ansible", "subprocess", "shutil"}


def build(tmp_path, monkeypatch):
    monkeypatch.setattr(install, "LIBRARY_DIR", str(tmp_path / "lib"))
    library, files = install._loader_library()
    for path, text in files.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    stub = tmp_path / "netfilter-loader"
    stub.write_text(install._render_stub(library))
    return library, files, stub


def test_library_holds_every_loader_module(tmp_path, monkeypatch):
    library, files, _stub = build(tmp_path, monkeypatch)
    names = sorted(os.path.basename(path) for path in files)
    wanted = [module.__name__.rpartition(".")[2] + ".py"
              for module in install.LOADER_MODULES]
    assert names == sorted(wanted + ["__init__.py"])
    assert all(path.startswith(os.path.join(library, install.PACKAGE))
               for path in files)


def test_library_directory_follows_the_sources(tmp_path, monkeypatch):
    monkeypatch.setattr(install, "LIBRARY_DIR", str(tmp_path))
    first, _files = install._loader_library()
    again, _files = install._loader_library()
    assert first == again and len(os.path.basename(first)) == 16


def test_loader_modules_import_nothing_expensive(tmp_path, monkeypatch):
    _library, files, _stub = build(tmp_path, monkeypatch)
    for path, text in files.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            if node.col_offset:  # a lazy import inside a function
                continue
            for name in names:
                assert name.split(".")[0] not in EXPENSIVE, (path, name)


def test_installed_loader_runs_from_its_copy(tmp_path, monkeypatch):
    _library, _files, stub = build(tmp_path, monkeypatch)
    done = subprocess.run([sys.executable, "-I", str(stub)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "usage: netfilter-loader prepare NAME" in done.stderr
    done = subprocess.run([sys.executable, "-I", str(stub), "ensure",
                           "../x"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 1
    assert "must be 1 to 40 lowercase letters" in done.stdout


def test_stub_and_units_point_at_the_loader():
    stub = install._render_stub("/usr/local/lib/gaming-box/x/0123")
    assert stub.startswith("#!/usr/bin/python3 -IS\n")
    assert "sys.path.insert(0, '/usr/local/lib/gaming-box/x/0123')" in stub
    unit = install._render_watch_unit()
    assert f"ExecStart={install.LOADER_PATH} watch" in unit
    assert "WantedBy=multi-user.target" in unit
    dropin = install._render_dropin("games")
    assert f"ExecStartPre=-+{install.LOADER_PATH} prepare games" in dropin
    assert install.dropin_path("games", 1000) == (
        "/etc/systemd/system/user@1000.service.d/"
        "gaming-box-netfilter-games.conf")
