"""QEMU command lines and how guests are sized and accelerated."""

from pathlib import Path

from lab.image import BaseImage
from lab.qemu import (GuestSpec, accelerator, default_cpus,
                      default_memory_mib, kernel_cmdline, kvm_usable,
                      qemu_command)


def spec(tmp_path: Path, port: int = 40123) -> GuestSpec:
    return GuestSpec(name="gbox-2", ssh_port=port, memory_mib=1536, cpus=1,
                     overlay=tmp_path / "gbox-2" / "overlay.qcow2",
                     console_log=tmp_path / "gbox-2" / "console.log",
                     pid_file=tmp_path / "gbox-2" / "qemu.pid",
                     public_key=tmp_path / "id_ed25519.pub")


def option(command: list[str], name: str) -> list[str]:
    return [command[i + 1] for i, arg in enumerate(command) if arg == name]


def test_pvm_is_never_used(tmp_path):
    kvm = tmp_path / "kvm"
    kvm.touch()
    (tmp_path / "modules" / "kvm_pvm").mkdir(parents=True)

    assert not kvm_usable(kvm, tmp_path / "modules")


def test_real_kvm_is_used(tmp_path):
    kvm = tmp_path / "kvm"
    kvm.touch()
    (tmp_path / "modules" / "kvm_intel").mkdir(parents=True)

    assert kvm_usable(kvm, tmp_path / "modules")


def test_no_dev_kvm_means_emulation(tmp_path):
    (tmp_path / "modules").mkdir()

    assert not kvm_usable(tmp_path / "kvm", tmp_path / "modules")


def test_emulation_caps_the_translation_cache():
    assert accelerator(False) == ["-accel", "tcg,thread=multi,tb-size=256",
                                  "-cpu", "max"]
    assert accelerator(True) == ["-accel", "kvm", "-cpu", "host"]


def test_sizes_for_one_and_for_several_guests():
    assert default_memory_mib(1) == 2048
    assert default_memory_mib(3) == 1536
    assert default_cpus(1, host_cpus=2) == 2
    assert default_cpus(1, host_cpus=1) == 1
    assert default_cpus(3, host_cpus=2) == 1


def test_network_is_restricted_and_forwarded_from_loopback_only(tmp_path):
    command = qemu_command(spec(tmp_path), BaseImage(tmp_path / "base-x"),
                           use_kvm=False)

    assert option(command, "-nic") == [
        "user,model=virtio,restrict=on,hostfwd=tcp:127.0.0.1:40123-:22"]
    assert "-netdev" not in command
    assert "-nodefaults" in command


def test_boots_the_image_kernel_with_its_hostname(tmp_path):
    image = BaseImage(tmp_path / "base-x")
    command = qemu_command(spec(tmp_path), image, use_kvm=False)

    assert option(command, "-kernel") == [str(image.kernel)]
    assert option(command, "-initrd") == [str(image.initrd)]
    cmdline = option(command, "-append")[0].split()
    assert cmdline[:3] == ["root=/dev/vda", "rootfstype=ext4", "rw"]
    assert "systemd.hostname=gbox-2" in cmdline
    assert option(command, "-m") == ["1536"]
    assert option(command, "-smp") == ["1"]


def test_key_goes_in_through_fw_cfg(tmp_path):
    command = qemu_command(spec(tmp_path), BaseImage(tmp_path / "b"),
                           use_kvm=False)

    assert option(command, "-fw_cfg") == [
        f"name=opt/gaming-box/authorized_keys,"
        f"file={tmp_path / 'id_ed25519.pub'}"]


def test_commas_in_paths_are_doubled(tmp_path):
    odd = tmp_path / "a,b"
    command = qemu_command(spec(odd), BaseImage(odd / "base"),
                           use_kvm=False)

    drive = option(command, "-drive")[0]
    assert drive.startswith(f"file={tmp_path}/a,,b/gbox-2/overlay.qcow2,")


def test_kernel_cmdline_names_the_host():
    assert kernel_cmdline("gbox-7").endswith("systemd.hostname=gbox-7")
