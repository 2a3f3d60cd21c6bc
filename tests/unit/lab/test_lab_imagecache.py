"""The image cache key: what changes it and what must not."""

from pathlib import Path

from lab.config import LAB_DIR
from lab.imagecache import image_inputs, recipe_hash


def make_lab(root: Path) -> Path:
    (root / "recipe" / "hooks").mkdir(parents=True)
    (root / "recipe" / "packages.txt").write_text("systemd\n")
    hook = root / "recipe" / "hooks" / "customize01.sh"
    hook.write_text("#!/bin/sh\n")
    hook.chmod(0o755)
    (root / "image.py").write_text("SUITE = 'bookworm'\n")
    return root


def key_of(lab: Path) -> str:
    return recipe_hash(image_inputs(lab), base=lab)


def test_inputs_are_recipe_files_and_image_code(tmp_path):
    lab = make_lab(tmp_path)
    cache = lab / "recipe" / "__pycache__"
    cache.mkdir()
    (cache / "x.cpython-311.pyc").write_bytes(b"\0")

    names = [str(p.relative_to(lab)) for p in image_inputs(lab)]

    assert names == ["image.py", "recipe/hooks/customize01.sh",
                     "recipe/packages.txt"]


def test_same_recipe_same_key_wherever_it_lives(tmp_path):
    first = make_lab(tmp_path / "a" / "lab")
    second = make_lab(tmp_path / "deeper" / "b" / "lab")

    assert key_of(first) == key_of(second)
    assert len(key_of(first)) == 16


def test_content_change_changes_key(tmp_path):
    lab = make_lab(tmp_path)
    before = key_of(lab)

    (lab / "recipe" / "packages.txt").write_text("systemd\nsudo\n")

    assert key_of(lab) != before


def test_new_file_changes_key(tmp_path):
    lab = make_lab(tmp_path)
    before = key_of(lab)

    (lab / "recipe" / "hooks" / "customize02.sh").write_text("")

    assert key_of(lab) != before


def test_executable_bit_changes_key(tmp_path):
    # mmdebstrap runs only executable hooks: the bit changes the image.
    lab = make_lab(tmp_path)
    before = key_of(lab)

    (lab / "recipe" / "hooks" / "customize01.sh").chmod(0o644)

    assert key_of(lab) != before


def test_renaming_a_file_changes_key(tmp_path):
    lab = make_lab(tmp_path)
    before = key_of(lab)

    hooks = lab / "recipe" / "hooks"
    (hooks / "customize01.sh").rename(hooks / "customize09.sh")

    assert key_of(lab) != before


def test_real_recipe_covers_hooks_and_image_code():
    names = {str(p.relative_to(LAB_DIR)) for p in image_inputs()}

    assert "image.py" in names
    assert "recipe/packages.txt" in names
    assert "recipe/hooks/customize02-flatpak.sh" in names
    assert not any(name.endswith(".pyc") for name in names)
