"""Damage in JPEG data that Pillow decodes without a word (garbled rows, no error).

Pillow's JPEG decoder drops libjpeg's warnings ("Corrupt JPEG data: ..."), so portrait_edge.io asks
`find_damage` before decoding. It returns a one-line reason, or None for data that looks sound:

1. Zero bytes: a run of ZERO_RUN zero bytes in the entropy-coded data of a sequential scan whose
   Huffman tables decode zero bits into blocks full of non-zero coefficients (the standard tables
   that cameras use do). No encoder writes that; a zeroed or never-written stretch of the file does.
   Tables whose all-zero code is "end of block" (optimised tables of flat images) are not judged.
2. Decoder warnings: a strict libjpeg-turbo decode (simplejpeg) at 1/8 scale, where every
   coefficient is still entropy-decoded but the inverse DCT and colour work are nearly free.
3. A short scan: a damaged stretch can decode to just as many blocks as it replaced; libjpeg then
   ends the scan a few bytes early and says nothing (those bytes sit in its bit buffer). A sound scan
   needs its last byte, so an image that decodes strictly without it is damaged.

Variants libjpeg-turbo cannot decode at all (it lacks them, or the file is broken in a way Pillow
reports itself) are left to Pillow. A stretch that happens to decode to valid data of exactly the
right length, without zeros, cannot be told from an image and passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

from portrait_edge.errors import PortraitEdgeError

ZERO_RUN = 64  # bytes: more than two whole blocks of zero-coded coefficients
_SEQUENTIAL_HUFFMAN_SOF = frozenset({0xC0, 0xC1})
_ARITHMETIC_SOF = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_EOB = 0x00


@dataclass
class _Scan:
    start: int  # first byte of its entropy-coded data
    stop: int  # the marker that ends it
    zeros_possible: bool  # its tables can code a real image as a run of zero bits


@dataclass
class _Layout:
    end: int  # offset of the EOI marker (with any fill bytes) that ends the first image
    arithmetic: bool
    scans: list[_Scan] = field(default_factory=list)


def find_damage(data: bytes, name: str) -> str | None:
    """Why these JPEG bytes are damaged, in a few words, or None. `name` only labels errors."""
    layout = _layout(data)
    if layout is not None:
        reason = _zero_run(data, layout)
        if reason:
            return reason
    simplejpeg = _import_simplejpeg(name)
    options = _strict_options(simplejpeg, data)
    if options is None:
        return None
    reason = _strict_warning(simplejpeg, data, options)
    if reason is None and layout is not None and not layout.arithmetic:
        reason = _short_scan(simplejpeg, data, layout, options)
    return reason


def _zero_run(data: bytes, layout: _Layout) -> str | None:
    run = bytes(ZERO_RUN)
    for scan in layout.scans:
        if scan.zeros_possible:
            continue
        at = data.find(run, scan.start, scan.stop)
        if at >= 0:
            length = len(data[at:scan.stop]) - len(data[at:scan.stop].lstrip(b"\x00"))
            return (f"corrupt JPEG data ({length} zero bytes in a row at byte {at} of the file: "
                    "a zeroed or unwritten stretch of the file)")
    return None


def _import_simplejpeg(name: str) -> ModuleType:
    try:
        import simplejpeg
    except ImportError:
        raise PortraitEdgeError(f"{name}: cannot check the JPEG data: the simplejpeg package is missing "
                                "(install portrait-edge again, e.g. make setup)") from None
    return simplejpeg


def _strict_options(simplejpeg: ModuleType, data: bytes) -> dict | None:
    try:
        colorspace = simplejpeg.decode_jpeg_header(data, strict=False)[2]
    except ValueError:
        return None
    # GRAY skips the colour conversion of YCbCr and gray data; CMYK/YCCK only convert to CMYK
    target = "CMYK" if colorspace in ("CMYK", "YCCK") else "GRAY"
    return {"colorspace": target, "min_height": 1, "min_width": 1}  # the smallest scale, 1/8


def _strict_warning(simplejpeg: ModuleType, data: bytes, options: dict) -> str | None:
    """libjpeg's first warning for these bytes, or None (also when it cannot decode them at all)."""
    try:
        simplejpeg.decode_jpeg(data, strict=True, **options)
        return None
    except ValueError as warning:
        try:
            simplejpeg.decode_jpeg(data, strict=False, **options)
        except ValueError:
            return None  # not a warning but an error: left to Pillow
        return f"corrupt or truncated JPEG data (libjpeg: {' '.join(str(warning).split())[:200]})"


def _short_scan(simplejpeg: ModuleType, data: bytes, layout: _Layout, options: dict) -> str | None:
    if not layout.scans or layout.end - 1 <= layout.scans[-1].start:
        return None
    trimmed = data[:layout.end - 1] + b"\xff\xd9"  # the last scan without its last byte, then EOI
    try:
        simplejpeg.decode_jpeg(trimmed, strict=True, **options)
    except ValueError:
        return None  # a sound scan needs that byte: libjpeg warns that its data ran out
    return "corrupt JPEG data (the image decodes without the last byte of its data, so a stretch before it is damaged)"


def _layout(data: bytes) -> _Layout | None:
    """The first image's scans and end, from its marker segments (EXIF thumbnails and MPO frames
    hold EOI markers of their own, so searching for FF D9 is not enough). None if unreadable."""
    if data[:2] != b"\xff\xd8":
        return None
    pos, size = 2, len(data)
    sof, scans = 0, []
    zero_symbols: dict[tuple[int, int], int] = {}  # (class, id) -> symbol of the all-zero Huffman code
    while pos < size:
        if data[pos] != 0xFF:
            return None
        start = pos
        while pos < size and data[pos] == 0xFF:  # fill bytes may precede any marker
            pos += 1
        if pos >= size:
            return None
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            return _Layout(start, sof in _ARITHMETIC_SOF, scans)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # standalone markers
            continue
        if pos + 2 > size:
            return None
        length = int.from_bytes(data[pos:pos + 2], "big")
        segment = data[pos + 2:pos + length]
        pos += length
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            sof = marker
        elif marker == 0xC4:
            _read_tables(segment, zero_symbols)
        elif marker == 0xDA:  # start of scan: entropy-coded data runs to the next real marker
            stop = _end_of_entropy_data(data, pos)
            if stop is None:
                return None
            zeros_possible = sof not in _SEQUENTIAL_HUFFMAN_SOF or _zeros_possible(segment, zero_symbols)
            scans.append(_Scan(pos, stop, zeros_possible))
            pos = stop
    return None


def _read_tables(segment: bytes, zero_symbols: dict[tuple[int, int], int]) -> None:
    """DHT: the first symbol of a canonical Huffman table is the one with the all-zero code."""
    pos = 0
    while pos + 17 <= len(segment):
        table_class, table_id = segment[pos] >> 4, segment[pos] & 0x0F
        count = sum(segment[pos + 1:pos + 17])
        if count and pos + 17 < len(segment):
            zero_symbols[(table_class, table_id)] = segment[pos + 17]
        pos += 17 + count


def _zeros_possible(sos: bytes, zero_symbols: dict[tuple[int, int], int]) -> bool:
    """Zero bits decode to flat blocks only if every component's all-zero AC code is end-of-block.
    A component without a table given (libjpeg's defaults then apply) is not judged."""
    if not sos:
        return True
    selectors = sos[2:1 + 2 * sos[0]:2]
    return all(zero_symbols.get((1, selector & 0x0F), _EOB) == _EOB for selector in selectors)


def _end_of_entropy_data(data: bytes, pos: int) -> int | None:
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return None
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:  # a stuffed 0xFF byte, a restart marker
            pos += 2
            continue
        return pos
