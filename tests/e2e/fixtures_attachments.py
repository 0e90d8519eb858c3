"""Attachment fixtures written by the tests themselves (nothing downloaded or committed):
Office documents with real VBA projects, Excel 4.0 macro sheets, executables, archives,
bombs.

No Python library writes OLE2 compound files, so this module has its own small writer
(`cfb`, version 3: 512-byte sectors, a mini stream for streams under 4 KiB, a balanced
directory tree) and builds VBA projects after MS-OVBA: a `dir` stream with the project and
module records, `_VBA_PROJECT`, `PROJECT`, and a module stream whose source is stored
compressed (literal tokens only: valid, if not small). The tests run `olevba` on every macro
fixture to prove that an independent parser finds the macros in it.
"""

from __future__ import annotations

import gzip as gzip_module
import io
import struct
import tarfile
import uuid
import zipfile

# --------------------------------------------------------------------------------------
# OLE2 compound files

SECTOR = 512
MINI = 64
CUTOFF = 4096
FREE, END, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


class _Node:
    def __init__(self, name: str, data: bytes | None):
        self.name = name
        self.data = data  # None: a storage
        self.children: dict[str, _Node] = {}
        self.index = 0
        self.left = self.right = self.child = NOSTREAM
        self.start, self.size = END, 0


def _key(name: str):
    return (len(name), name.upper())


def cfb(streams: dict[str, bytes], clsid: str | None = None) -> bytes:
    """A compound file holding `streams` ("Macros/VBA/dir" -> bytes; storages are created
    on the way) with the class id `clsid` on the root storage."""
    clsid_bytes = uuid.UUID(clsid).bytes_le if clsid else b"\0" * 16
    root = _Node("Root Entry", None)
    for path, data in streams.items():
        node = root
        parts = path.split("/")
        for part in parts[:-1]:
            node = node.children.setdefault(part, _Node(part, None))
        node.children[parts[-1]] = _Node(parts[-1], data)

    entries: list[_Node] = []

    def number(node: _Node):
        node.index = len(entries)
        entries.append(node)
        for child in node.children.values():
            number(child)

    number(root)

    def tree(nodes: list[_Node]) -> int:
        if not nodes:
            return NOSTREAM
        mid = len(nodes) // 2
        nodes[mid].left = tree(nodes[:mid])
        nodes[mid].right = tree(nodes[mid + 1:])
        return nodes[mid].index

    for node in entries:
        if node.data is None:
            node.child = tree(sorted(node.children.values(), key=lambda n: _key(n.name)))

    # The mini stream: every stream under the cutoff, in 64-byte mini sectors.
    mini = bytearray()
    minifat: list[int] = []
    big = [n for n in entries if n.data is not None and len(n.data) >= CUTOFF]
    for node in entries:
        if node.data is None or len(node.data) >= CUTOFF:
            continue
        node.size = len(node.data)
        if not node.data:
            continue
        node.start = len(mini) // MINI
        count = -(-len(node.data) // MINI)
        minifat.extend(range(node.start + 1, node.start + count))
        minifat.append(END)
        mini += node.data + b"\0" * (count * MINI - len(node.data))

    def sectors(n: int) -> int:
        return -(-n // SECTOR)

    dir_count = sectors(len(entries) * 128)
    mini_count = sectors(len(mini))
    minifat_count = sectors(len(minifat) * 4)
    big_counts = [sectors(len(n.data)) for n in big]
    rest = dir_count + mini_count + minifat_count + sum(big_counts)
    fat_count = 1
    while fat_count * (SECTOR // 4) < fat_count + rest:
        fat_count += 1
    assert fat_count <= 109, "too large for a header-only DIFAT"

    fat = [FATSECT] * fat_count
    def chain(count: int) -> int:
        if count == 0:
            return END
        start = len(fat)
        fat.extend(range(start + 1, start + count))
        fat.append(END)
        return start

    dir_start = chain(dir_count)
    mini_start = chain(mini_count)
    minifat_start = chain(minifat_count)
    for node, count in zip(big, big_counts):
        node.start, node.size = chain(count), len(node.data)
    fat.extend([FREE] * (fat_count * (SECTOR // 4) - len(fat)))
    root.start, root.size = (mini_start, len(mini)) if mini else (END, 0)

    header = bytearray(SECTOR)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", header, 40, 0, fat_count, dir_start, 0, CUTOFF,
                     minifat_start if minifat_count else END, minifat_count, END, 0)
    difat = list(range(fat_count)) + [FREE] * (109 - fat_count)
    struct.pack_into("<109I", header, 76, *difat)

    directory = bytearray()
    for node in entries:
        name = node.name.encode("utf-16-le") + b"\0\0"
        assert len(name) <= 64, node.name
        entry = bytearray(128)
        entry[:len(name)] = name
        kind = 5 if node is root else (1 if node.data is None else 2)
        struct.pack_into("<HBBIII", entry, 64, len(name), kind, 1, node.left, node.right, node.child)
        if node is root:
            entry[80:96] = clsid_bytes
        struct.pack_into("<IQ", entry, 116, node.start, node.size)
        directory += entry
    while len(directory) % SECTOR:
        directory += struct.pack("<64sHBBIII", b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM) + b"\0" * 48

    def pad(data: bytes) -> bytes:
        return data + b"\0" * (-len(data) % SECTOR)

    out = bytearray(header)
    out += struct.pack(f"<{len(fat)}I", *fat)
    out += directory
    out += pad(bytes(mini))
    out += pad(struct.pack(f"<{len(minifat)}I", *minifat))
    for node in big:
        out += pad(node.data)
    return bytes(out)


# --------------------------------------------------------------------------------------
# VBA projects (MS-OVBA)

def ovba_compress(data: bytes) -> bytes:
    """A CompressedContainer of literal tokens only (flag byte 0, then 8 literals)."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), 3640):
        piece = data[start:start + 3640]
        chunk = bytearray()
        for i in range(0, len(piece), 8):
            chunk += b"\0" + piece[i:i + 8]
        out += struct.pack("<H", 0xB000 | (len(chunk) + 2 - 3)) + chunk
    return bytes(out)


def _record(kind: int, data: bytes) -> bytes:
    return struct.pack("<HI", kind, len(data)) + data


def vba_dir(modules: list[str]) -> bytes:
    d = bytearray()
    d += _record(0x0001, struct.pack("<I", 1))          # PROJECTSYSKIND: 32-bit Windows
    d += _record(0x0002, struct.pack("<I", 0x409))      # PROJECTLCID
    d += _record(0x0014, struct.pack("<I", 0x409))      # PROJECTLCIDINVOKE
    d += _record(0x0003, struct.pack("<H", 1252))       # PROJECTCODEPAGE
    d += _record(0x0004, b"VBAProject")                 # PROJECTNAME
    d += _record(0x0005, b"") + _record(0x0040, b"")    # PROJECTDOCSTRING (+ unicode)
    d += _record(0x0006, b"") + _record(0x003D, b"")    # PROJECTHELPFILEPATH (1 and 2)
    d += _record(0x0007, struct.pack("<I", 0))          # PROJECTHELPCONTEXT
    d += _record(0x0008, struct.pack("<I", 0))          # PROJECTLIBFLAGS
    d += struct.pack("<HIIH", 0x0009, 4, 1, 0)          # PROJECTVERSION
    d += _record(0x000C, b"") + _record(0x003C, b"")    # PROJECTCONSTANTS (+ unicode)
    d += struct.pack("<HIH", 0x000F, 2, len(modules))   # PROJECTMODULES
    d += _record(0x0013, struct.pack("<H", 0xFFFF))     # PROJECTCOOKIE
    for name in modules:
        b, u = name.encode("cp1252"), name.encode("utf-16-le")
        d += _record(0x0019, b) + _record(0x0047, u)     # MODULENAME, MODULENAMEUNICODE
        d += _record(0x001A, b) + _record(0x0032, u)     # MODULESTREAMNAME (+ unicode)
        d += _record(0x001C, b"") + _record(0x0048, b"") # MODULEDOCSTRING (+ unicode)
        d += _record(0x0031, struct.pack("<I", 0))       # MODULEOFFSET: the source at 0
        d += _record(0x001E, struct.pack("<I", 0))       # MODULEHELPCONTEXT
        d += _record(0x002C, struct.pack("<H", 0xFFFF))  # MODULECOOKIE
        d += struct.pack("<HI", 0x0021, 0)               # MODULETYPE: procedural
        d += struct.pack("<HI", 0x002B, 0)               # MODULE terminator
    d += struct.pack("<HI", 0x0010, 0)                   # dir terminator
    return ovba_compress(bytes(d))


MACRO_SOURCE = (
    'Attribute VB_Name = "Module1"\r\n'
    "Sub AutoOpen()\r\n"
    '    Shell "calc.exe"\r\n'
    "End Sub\r\n"
)


def vba_streams(root: str = "") -> dict[str, bytes]:
    """The streams of a VBA project with one module under `root` ("Macros" for Word,
    "_VBA_PROJECT_CUR" for Excel, "" for a vbaProject.bin)."""
    prefix = root + "/" if root else ""
    project = (
        'ID="{5F3A1C2B-7D4E-4F60-9A8B-1C2D3E4F5A6B}"\r\nModule=Module1\r\nName="VBAProject"\r\n'
        'HelpContextID="0"\r\nVersionCompatible32="393222000"\r\n\r\n[Host Extender Info]\r\n'
        "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000\r\n"
    ).encode("cp1252")
    return {
        prefix + "PROJECT": project,
        prefix + "PROJECTwm": b"Module1\0M\0o\0d\0u\0l\0e\0\x31\0\0\0\0\0",
        prefix + "VBA/_VBA_PROJECT": b"\xcc\x61\xff\xff\x00\x00\x00",
        prefix + "VBA/dir": vba_dir(["Module1"]),
        prefix + "VBA/Module1": ovba_compress(MACRO_SOURCE.encode("cp1252")),
    }


WORD_97 = "00020906-0000-0000-C000-000000000046"
EXCEL_97 = "00020820-0000-0000-C000-000000000046"
MSI = "000C1084-0000-0000-C000-000000000046"


def doc_with_vba() -> bytes:
    """A Word 97-2003 document with a VBA project (Macros/VBA)."""
    streams = {"WordDocument": b"\xec\xa5\xc1\x00" + b"\0" * 508, "1Table": b"\0" * 64}
    streams.update(vba_streams("Macros"))
    return cfb(streams, WORD_97)


def vba_project_bin() -> bytes:
    return cfb(vba_streams(""))


def doc_clean() -> bytes:
    return cfb({"WordDocument": b"\xec\xa5\xc1\x00" + b"\0" * 508, "1Table": b"\0" * 64}, WORD_97)


def msi() -> bytes:
    """A Windows Installer package: its class id on the root, a few table streams."""
    return cfb({"\u4840\u3f3f\u4577\u446c\u3b6a\u45e4\u4824": b"\0" * 32, "SummaryInformation": b"\0" * 48}, MSI)


def _biff(kind: int, data: bytes) -> bytes:
    return struct.pack("<HH", kind, len(data)) + data


def xls(sheet_type: int) -> bytes:
    """An Excel 97-2003 workbook; its second sheet of `sheet_type` (1: Excel 4.0 macros)."""
    def sheet(dt: int, name: bytes) -> bytes:
        return _biff(0x0085, struct.pack("<IBBBB", 0, 0, dt, len(name), 0) + name)
    book = (_biff(0x0809, struct.pack("<HHHHII", 0x0600, 0x0005, 0x1FB3, 0x07CD, 0x000100C1, 0x00000406))
            + sheet(0, b"Sheet1") + sheet(sheet_type, b"Macro1") + _biff(0x000A, b""))
    return cfb({"Workbook": book}, EXCEL_97)


# --------------------------------------------------------------------------------------
# OOXML and archives

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>{extra}'
    '<Override PartName="/word/document.xml" ContentType="{main}"/></Types>'
)
RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="word/document.xml"/></Relationships>'
)
DOC_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
    'Target="vbaProject.bin"/></Relationships>'
)


def zip_of(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def docx(with_macros: bool = False) -> bytes:
    """A Word document: clean, or macro-enabled with word/vbaProject.bin (a .docm)."""
    main = ("application/vnd.ms-word.document.macroEnabled.main+xml" if with_macros else
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml")
    extra = '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>' if with_macros else ""
    files = {
        "[Content_Types].xml": CONTENT_TYPES.format(extra=extra, main=main).encode(),
        "_rels/.rels": RELS.encode(),
        "word/document.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w='
            '"http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
            + "<w:p><w:r><w:t>Quarterly figures, as discussed.</w:t></w:r></w:p>" * 40
            + "</w:body></w:document>").encode(),
    }
    if with_macros:
        files["word/_rels/document.xml.rels"] = DOC_RELS.encode()
        files["word/vbaProject.bin"] = vba_project_bin()
    return zip_of(files)


def xlsx() -> bytes:
    return zip_of({
        "[Content_Types].xml": b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                               b'<Default Extension="xml" ContentType="application/xml"/></Types>',
        "_rels/.rels": RELS.replace("word/document.xml", "xl/workbook.xml").encode(),
        "xl/workbook.xml": b"<workbook><sheets><sheet name=\"Sheet1\" sheetId=\"1\"/></sheets></workbook>",
        "xl/worksheets/sheet1.xml": b"<worksheet><sheetData><row r=\"1\"><c r=\"A1\"><v>42</v></c></row>"
                                    b"</sheetData></worksheet>",
    })


def tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip(data: bytes) -> bytes:
    return gzip_module.compress(data)


def zip_bomb(size: int) -> bytes:
    """One entry of `size` zero bytes, deflated (about a thousand to one)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("zeros.bin", "w", force_zip64=size >= 0xFFFFFFFF) as f:
            block = b"\0" * (1 << 20)
            for _ in range(size >> 20):
                f.write(block)
    return buf.getvalue()


def many_entries(count: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for i in range(count):
            z.writestr(f"f{i}.txt", b"x")
    return buf.getvalue()


def encrypted_zip() -> bytes:
    """A zip whose entry has the encryption flag (ZipCrypto) set: the header of what a
    password-protected archive looks like (Python's zipfile does not encrypt)."""
    data = bytearray(zip_of({"invoice.docm": b"\x9c\x11 encrypted bytes " * 8}, zipfile.ZIP_STORED))
    for sig, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(sig)
        data[at + flags_at] |= 1
    return bytes(data)


# --------------------------------------------------------------------------------------
# Executables and harmless files

def pe(sections: list[bytes] = (b".text", b".rdata")) -> bytes:
    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x40)
    coff = b"PE\0\0" + struct.pack("<HHIIIHH", 0x8664, len(sections), 0, 0, 0, 0, 0x22)
    table = b"".join(s.ljust(8, b"\0") + b"\0" * 32 for s in sections)
    return bytes(dos) + coff + table + b"\xcc" * 512


def upx_pe() -> bytes:
    return pe([b"UPX0", b"UPX1", b".rsrc"]) + b"UPX!\x0d\x09\x08\x08"


def elf() -> bytes:
    return b"\x7fELF\x02\x01\x01\0" + b"\0" * 8 + struct.pack("<HHI", 2, 0x3E, 1) + b"\0" * 232


def macho() -> bytes:
    return struct.pack("<IiiIIII", 0xFEEDFACF, 0x01000007, 3, 2, 0, 0, 0) + b"\0" * 200


PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
       b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4a90000000049454e44ae426082")
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffdb004300") + b"\x08" * 64 + b"\xff\xd9"
