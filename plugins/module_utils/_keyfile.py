# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read and edit GLib key files without losing what the editor does not own.

Flatpak reads its override files with GLib's GKeyFile.  This helper accepts
and rejects the same lines GKeyFile does, resolves duplicate groups and keys
the same way (groups merge, the last key wins), and decodes values with the
same escapes.  Unlike GKeyFile it keeps every line it is not asked to change
byte for byte, comments and odd spacing included, so an edit is a small diff.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._errors import HostError

__all__ = [
    "KeyFile",
    "KeyFileValueError",
    "decode_list",
    "decode_string",
    "encode_list",
    "encode_string",
    "is_key_name",
]

# g_ascii_isspace(): what GKeyFile trims around keys and values.
_ASCII_SPACE = " \t\n\v\f\r"
_DECODED = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


class KeyFileValueError(ValueError):
    """A value GKeyFile refuses to decode (a bad escape sequence)."""


@dataclass
class _Line:
    raw: str
    key: str | None = None
    value: str | None = None


@dataclass
class _Section:
    name: str | None
    header: str | None
    lines: list[_Line] = field(default_factory=list)


class KeyFile:
    """A key file as a list of sections; one group may span several."""

    def __init__(self, sections: list[_Section]) -> None:
        self._sections = sections

    @classmethod
    def parse(cls, text: str, *, origin: str) -> "KeyFile":
        """Parse ``text``; raise HostError where GKeyFile would fail."""
        sections = [_Section(name=None, header=None)]
        start_group = None
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()

        for number, raw in enumerate(lines, start=1):
            try:
                line = _parse_line(raw)
            except KeyFileValueError as exc:
                raise _syntax_error(origin, number, str(exc)) from exc

            if isinstance(line, _Section):
                sections.append(line)
                start_group = start_group or line.name
                continue
            if line.key is not None:
                if sections[-1].name is None:
                    raise _syntax_error(
                        origin, number, "a key comes before the first group")
                if line.key == "Encoding" and sections[-1].name == start_group:
                    _check_encoding(origin, number, line.value)
            sections[-1].lines.append(line)

        return cls(sections)

    def render(self) -> str:
        """The file's text: untouched lines as read, edited ones rewritten."""
        out = []
        for section in self._sections:
            if section.header is not None:
                out.append(section.header)
            out.extend(line.raw for line in section.lines)
        return "".join(f"{line}\n" for line in out)

    def groups(self) -> list[str]:
        names = []
        for section in self._sections:
            if section.name is not None and section.name not in names:
                names.append(section.name)
        return names

    def has_group(self, group: str) -> bool:
        return group in self.groups()

    def keys(self, group: str) -> list[str]:
        """Distinct keys of ``group`` in the order they first appear."""
        found = []
        for line in self._lines_of(group):
            if line.key is not None and line.key not in found:
                found.append(line.key)
        return found

    def get(self, group: str, key: str) -> str | None:
        """The raw (still escaped) value; a repeated key's last one wins."""
        value = None
        for line in self._lines_of(group):
            if line.key == key:
                value = line.value
        return value

    def set(self, group: str, key: str, value: str) -> None:
        """Give ``key`` the raw ``value``, in place when it already exists."""
        if (not is_key_name(key) or "\n" in value or "\0" in key + value
                or value[:1] in ("\v", "\f")):
            # GKeyFile has no escape for a leading \v or \f and would trim it.
            raise ValueError(f"cannot store {key!r}={value!r} in a key file")
        new = _Line(raw=f"{key}={value}", key=key, value=value)

        occurrences = [(section, line) for section in self._sections
                       if section.name == group
                       for line in section.lines if line.key == key]
        if occurrences:
            # Keep the last one where it is: that is the one readers use.
            last_section, last_line = occurrences[-1]
            for section, line in occurrences[:-1]:
                section.lines.remove(line)
            last_section.lines[last_section.lines.index(last_line)] = new
            return

        sections = [s for s in self._sections if s.name == group]
        if not sections:
            sections = [self._add_section(group)]
        target = sections[-1]
        key_positions = [i for i, line in enumerate(target.lines)
                         if line.key is not None]
        # After the group's last key, so trailing comments and blank lines
        # stay in front of the next group where the author put them.
        position = key_positions[-1] + 1 if key_positions else 0
        target.lines.insert(position, new)

    def remove(self, group: str, key: str) -> bool:
        """Remove every occurrence of ``key``; return whether one existed."""
        removed = False
        for section in self._sections:
            if section.name != group:
                continue
            kept = [line for line in section.lines if line.key != key]
            removed = removed or len(kept) != len(section.lines)
            section.lines = kept
        return removed

    def drop_group_if_empty(self, group: str) -> None:
        """Remove the group's headers when it holds nothing but blank lines.

        A group with comments stays: the comments belong to someone.
        """
        self._sections = [
            s for s in self._sections
            if s.name != group or any(line.raw.strip(_ASCII_SPACE)
                                      for line in s.lines)]

    def _lines_of(self, group: str):
        for section in self._sections:
            if section.name == group:
                yield from section.lines

    def _add_section(self, group: str) -> _Section:
        if not is_group_name(group):
            raise ValueError(f"cannot name a key file group {group!r}")
        rendered = self.render()
        if rendered and not rendered.endswith("\n\n"):
            # GKeyFile also separates groups by an empty line.
            self._sections[-1].lines.append(_Line(raw=""))
        section = _Section(name=group, header=f"[{group}]")
        self._sections.append(section)
        return section


def is_group_name(name: str) -> bool:
    """Whether GKeyFile accepts ``name`` between brackets."""
    return bool(name) and not any(
        ch in "[]" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name)


def is_key_name(name: str) -> bool:
    """Whether GKeyFile accepts ``name`` as a plain (untranslated) key."""
    return (bool(name) and not any(ch in "=[]\n\r" for ch in name)
            and name[0] not in _ASCII_SPACE + "#"
            and name[-1] not in _ASCII_SPACE)


def decode_string(raw: str) -> str:
    """Decode a value the way g_key_file_get_string() does.

    GKeyFile keeps an unknown escape as it was and drops a backslash at the
    very end; flatpak ignores the error it reports for both.
    """
    out = []
    chars = iter(raw)
    for ch in chars:
        if ch != "\\":
            out.append(ch)
            continue
        escaped = next(chars, None)
        if escaped is None:
            break
        out.append(_DECODED.get(escaped, "\\" + escaped))
    return "".join(out)


def decode_list(raw: str, separator: str = ";") -> list[str]:
    """Split and decode a list value as g_key_file_get_string_list() does.

    Raises KeyFileValueError where GKeyFile fails, which makes flatpak refuse the
    whole file.
    """
    items, current = [], []
    chars = iter(raw)
    for ch in chars:
        if ch == separator:
            items.append("".join(current))
            current = []
        elif ch == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise KeyFileValueError("the value ends with an escape character")
            if escaped == separator:
                current.append(separator)
            elif escaped in _DECODED:
                current.append(_DECODED[escaped])
            else:
                raise KeyFileValueError(f"invalid escape sequence \\{escaped}")
        else:
            current.append(ch)
    if current:
        items.append("".join(current))
    return items


def encode_string(value: str, *, separator: str | None = None) -> str:
    """Escape ``value`` as g_key_file_set_string() writes it."""
    out = []
    leading = True
    for ch in value:
        if ch in " \t":
            out.append(("\\s" if ch == " " else "\\t") if leading else ch)
        elif ch in "\n\r":
            out.append("\\n" if ch == "\n" else "\\r")
        elif ch == "\\":
            out.append("\\\\")
            leading = False
        elif ch == separator:
            out.append("\\" + ch)
            leading = True
        else:
            out.append(ch)
            leading = False
    return "".join(out)


def encode_list(items: list[str], separator: str = ";") -> str:
    """Join and escape as g_key_file_set_string_list() does."""
    return "".join(encode_string(item, separator=separator) + separator
                   for item in items)


def _parse_line(raw: str) -> _Line | _Section:
    # GKeyFile drops one carriage return before the newline, nothing else.
    text = raw[:-1] if raw.endswith("\r") else raw
    if "\0" in text:
        raise KeyFileValueError("the line holds a NUL byte")
    stripped = text.lstrip(_ASCII_SPACE)

    if stripped == "" or stripped.startswith("#"):
        return _Line(raw=raw)

    if stripped.startswith("[") and "]" in stripped:
        close = stripped.index("]")
        if stripped[close + 1:].strip(" \t") == "":
            name = stripped[1:close]
            if not is_group_name(name):
                raise KeyFileValueError(f"invalid group name {name!r}")
            return _Section(name=name, header=raw)

    if "=" not in stripped or stripped.startswith("="):
        raise KeyFileValueError("it is not a key-value pair, group, or comment")
    key, value = stripped.split("=", 1)
    key = key.rstrip(_ASCII_SPACE)
    if not _is_key_with_locale(key):
        raise KeyFileValueError(f"invalid key name {key!r}")
    return _Line(raw=raw, key=key, value=value.lstrip(_ASCII_SPACE))


def _is_key_with_locale(key: str) -> bool:
    plain, bracket, locale = key.partition("[")
    if not plain or "]" in plain or plain[0] == " " or plain[-1] == " ":
        return False
    if not bracket:
        return True
    return locale.endswith("]") and all(
        ch.isalnum() or ch in "-_.@" for ch in locale[:-1])


def _check_encoding(origin: str, number: int, value: str | None) -> None:
    if (value or "").lower() != "utf-8":
        raise _syntax_error(origin, number,
                            f"it declares the unsupported encoding {value!r}")


def _syntax_error(origin: str, number: int, reason: str) -> HostError:
    return HostError(
        origin, f"line {number} cannot be read as a key file: {reason}",
        "Correct or remove that line by hand (flatpak cannot read the file "
        "either), or remove the file with state=absent")
