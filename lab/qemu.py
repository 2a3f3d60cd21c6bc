"""QEMU command lines for lab guests, and how to size and accelerate them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lab.image import BaseImage

__all__ = ["GuestSpec", "kvm_usable", "accelerator", "default_memory_mib",
           "default_cpus", "kernel_cmdline", "qemu_command",
           "KEY_FW_CFG_NAME"]

# The guest's gbox-install-keys reads the lab's public key from here.
KEY_FW_CFG_NAME = "opt/gaming-box/authorized_keys"
# Software emulation keeps translated code in a cache of 1 GiB by default;
# a quarter of that costs little speed and saves ~0.5 GiB per guest.
TCG_CACHE_MIB = 256


@dataclass(frozen=True)
class GuestSpec:
    """Everything that makes one guest's QEMU command line."""

    name: str
    ssh_port: int
    memory_mib: int
    cpus: int
    overlay: Path
    console_log: Path
    pid_file: Path
    public_key: Path


def kvm_usable(dev_kvm: Path = Path("/dev/kvm"),
               modules: Path = Path("/sys/module")) -> bool:
    """True for real KVM; False when missing or when it is PVM.

    PVM (module kvm_pvm) only runs guest kernels built for it: a stock
    Debian kernel hangs or crawls under it, so software emulation wins.
    """
    if (modules / "kvm_pvm").exists():
        return False
    return dev_kvm.exists() and os.access(dev_kvm, os.R_OK | os.W_OK)


def accelerator(use_kvm: bool) -> list[str]:
    if use_kvm:
        return ["-accel", "kvm", "-cpu", "host"]
    return ["-accel", f"tcg,thread=multi,tb-size={TCG_CACHE_MIB}",
            "-cpu", "max"]


def default_memory_mib(guest_count: int) -> int:
    return 2048 if guest_count <= 1 else 1536


def default_cpus(guest_count: int, host_cpus: int | None = None) -> int:
    """Two vCPUs for a lone guest; one each when several share the host."""
    host_cpus = host_cpus or os.cpu_count() or 1
    if guest_count <= 1:
        return min(2, host_cpus)
    return 1


def kernel_cmdline(hostname: str) -> str:
    return " ".join([
        "root=/dev/vda", "rootfstype=ext4", "rw", "console=ttyS0",
        # Every guest starts from a clean image: no check needed.
        "fsck.mode=skip",
        # Emulated guests pay heavily for page table isolation and friends;
        # nothing in a throw-away lab guest needs them.
        "mitigations=off",
        f"systemd.hostname={hostname}",
    ])


def option_path(path: Path) -> str:
    """A path inside a QEMU -opt value, where a comma must be doubled."""
    return str(path).replace(",", ",,")


def qemu_command(spec: GuestSpec, image: BaseImage, *,
                 use_kvm: bool) -> list[str]:
    # restrict=on: the guest reaches nothing outside; the only way in is
    # the SSH port forward on the host's loopback.
    nic = ("user,model=virtio,restrict=on,"
           f"hostfwd=tcp:127.0.0.1:{spec.ssh_port}-:22")
    return [
        "qemu-system-x86_64",
        "-name", spec.name,
        "-machine", "q35",
        *accelerator(use_kvm),
        "-smp", str(spec.cpus),
        "-m", str(spec.memory_mib),
        "-nodefaults", "-no-user-config", "-display", "none",
        "-kernel", str(image.kernel),
        "-initrd", str(image.initrd),
        "-append", kernel_cmdline(spec.name),
        "-drive", (f"file={option_path(spec.overlay)},format=qcow2,"
                   "if=virtio,cache=unsafe,discard=unmap"),
        "-nic", nic,
        "-device", "virtio-rng-pci",
        "-fw_cfg", (f"name={KEY_FW_CFG_NAME},"
                    f"file={option_path(spec.public_key)}"),
        "-chardev", f"file,id=console,path={option_path(spec.console_log)}",
        "-serial", "chardev:console",
        "-pidfile", str(spec.pid_file),
        "-daemonize",
    ]


def overlay_command(image: BaseImage, overlay: Path) -> list[str]:
    return ["qemu-img", "create", "-q", "-f", "qcow2",
            "-b", str(image.root), "-F", "raw", str(overlay)]
