r"""Tiny boot media for the QEMU boot proof, built at test time: each prints one marker and halts.

The proof is ``test_qemu_boot_proof.py``. Every image's boot code writes ``SRMARK:<name>`` on a
line of its own to COM1 (I/O port 0x3f8; on aarch64 the PL011 UART of ``virt``) and then stops
the CPU, so a domain's serial log names the one device the firmware booted, and nothing after it
can boot too. The images are made from assembly source held here (``nasm``), ``xorriso`` and
``qemu-img``; nothing binary is kept in the tree.

- ``bios_disk``: a disk whose 512-byte boot sector (MBR) prints the marker (SeaBIOS).
- ``bios_iso``: an El Torito CD-ROM with a no-emulation boot image that prints the marker.
- ``efi_disk``: a FAT12 "superfloppy" (no partition table) holding ``\EFI\BOOT\BOOTX64.EFI``,
  the removable-media boot path of UEFI, a PE32+ application that prints the marker (OVMF); or,
  with ``arch="aa64"``, ``\EFI\BOOT\BOOTAA64.EFI``, an AArch64 one that prints it on the PL011
  UART of QEMU's ``virt`` machine (AAVMF) instead.
- ``efi_iso``: an El Torito CD-ROM whose EFI boot entry is that FAT image.
- ``blank_disk``: an empty disk of a format, for disks that only have to exist.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

MARKER_PREFIX = "SRMARK:"
TOOLS = ("nasm", "xorriso", "qemu-img")
TOOL_TIMEOUT_SECONDS = 60.0
DISK_BYTES = 1024 * 1024
SECTOR_BYTES = 512

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
_MARKER = re.compile(re.escape(MARKER_PREFIX) + r"([A-Za-z0-9._-]+)\r?\n")

# Programs the 16550 UART at 0x3f8 for 115200 baud 8N1 without interrupts (the sequence of
# SeaBIOS's and Linux's early serial consoles), then sends `message`, a NUL-terminated string,
# waiting for the transmitter holding register to empty (LSR bit 5) before each byte. Shared by
# the 16-bit boot sector and the 64-bit EFI application: the instructions used assemble the same
# way in both modes apart from the string pointer (si versus rsi).
_SERIAL_WRITE = """\
    mov dx, 0x3f9
    xor al, al
    out dx, al              ; IER: no interrupts
    mov dx, 0x3fb
    mov al, 0x80
    out dx, al              ; LCR: divisor latch access
    mov dx, 0x3f8
    mov al, 1
    out dx, al              ; divisor low byte: 115200 baud
    mov dx, 0x3f9
    xor al, al
    out dx, al              ; divisor high byte
    mov dx, 0x3fb
    mov al, 0x03
    out dx, al              ; LCR: 8 data bits, no parity, 1 stop bit
    mov dx, 0x3fa
    mov al, 0xc7
    out dx, al              ; FCR: FIFOs on and cleared
    mov dx, 0x3fc
    mov al, 0x03
    out dx, al              ; MCR: DTR and RTS
.next:
    lodsb
    test al, al
    jz .halt
    mov ah, al
    mov dx, 0x3fd
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    mov al, ah
    mov dx, 0x3f8
    out dx, al
    jmp .next
.halt:
    cli
    hlt
    jmp .halt
"""

_BIOS_BOOT_SECTOR = """\
; Boot sector: SeaBIOS loads it at 0000:7c00 (an El Torito no-emulation image may be entered
; through 07c0:0000), so the far jump first makes cs:ip agree with `org`.
bits 16
org 0x7c00
    jmp 0x0000:start
start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    cld
    mov si, message
{serial_write}
message:
    db 13, 10, "{marker}", 13, 10, 0
    times 510 - ($ - $$) db 0
    dw 0xaa55
"""

_EFI_APPLICATION = """\
; A PE32+ EFI application written out by hand: DOS stub header, PE header, optional header with
; 16 empty data directories, one .text section. It needs no relocations (the code only addresses
; its own bytes, PC-relative) and calls no UEFI service: the firmware enters it with the MMU
; mapping all of memory and the devices one to one, at the most privileged level it runs at, so
; the code may drive the serial port itself. Only `machine` and the code differ between
; architectures.
bits 64
default rel
IMAGE_BASE equ 0x400000
FILE_ALIGNMENT equ 0x200
SECTION_ALIGNMENT equ 0x1000
TEXT_RVA equ 0x1000

dos_header:
    dw 'MZ'
    times 0x3c - ($ - dos_header) db 0
    dd pe_header - dos_header           ; e_lfanew
pe_header:
    dd 'PE'
    dw {machine}
    dw 1                                ; NumberOfSections
    dd 0, 0, 0                          ; TimeDateStamp, PointerToSymbolTable, NumberOfSymbols
    dw optional_end - optional_header   ; SizeOfOptionalHeader
    dw 0x0022                           ; EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE
optional_header:
    dw 0x20b                            ; PE32+
    db 0, 0                             ; linker version
    dd TEXT_SIZE                        ; SizeOfCode
    dd 0, 0                             ; SizeOfInitializedData, SizeOfUninitializedData
    dd TEXT_RVA                         ; AddressOfEntryPoint
    dd TEXT_RVA                         ; BaseOfCode
    dq IMAGE_BASE
    dd SECTION_ALIGNMENT, FILE_ALIGNMENT
    dw 0, 0, 0, 0, 0, 0                 ; operating system, image and subsystem versions
    dd 0                                ; Win32VersionValue
    dd TEXT_RVA + SECTION_ALIGNMENT     ; SizeOfImage
    dd HEADERS_SIZE                     ; SizeOfHeaders
    dd 0                                ; CheckSum
    dw 10                               ; Subsystem: EFI application
    dw 0                                ; DllCharacteristics
    dq 0x10000, 0x1000, 0x10000, 0x1000 ; stack and heap, reserve and commit
    dd 0                                ; LoaderFlags
    dd 16                               ; NumberOfRvaAndSizes
    times 16 dq 0
optional_end:
    db '.text', 0, 0, 0
    dd SECTION_ALIGNMENT                ; VirtualSize
    dd TEXT_RVA                         ; VirtualAddress
    dd TEXT_SIZE                        ; SizeOfRawData
    dd HEADERS_SIZE                     ; PointerToRawData
    dd 0, 0                             ; relocations, line numbers
    dw 0, 0
    dd 0x60000020                       ; CODE | EXECUTE | READ
    align FILE_ALIGNMENT, db 0
HEADERS_SIZE equ $ - dos_header
text:
{code}
message:
    db 13, 10, "{marker}", 13, 10, 0
    align FILE_ALIGNMENT, db 0
TEXT_SIZE equ $ - text
"""

# x86-64 (OVMF enters in long mode at ring 0, where the port I/O of the shared serial routine
# works as it does in real mode).
_X64_CODE = """\
    cld
    lea rsi, [message]
{serial_write}"""

# AArch64 (AAVMF on QEMU's `virt`, entered at EL1 or EL2): the PL011 UART of `virt` at
# 0x09000000, which the firmware has set up as its own console and maps as device memory. Sends
# `message` a byte at a time once the transmit FIFO is not full (UARTFR, offset 0x18, bit 5
# TXFF), then masks interrupts and waits for one for ever. nasm does not assemble AArch64, so
# each instruction is its 32-bit encoding (Arm ARM, "A64 Instruction Set Encoding"), computed by
# nasm where it holds a PC-relative offset; the comment is the instruction.
_AARCH64_CODE = """\
    dd 0xd2a12002                                               ; movz x2, #0x0900, lsl #16
    dd 0x10000001 | ((message - $) & 3) << 29 | ((message - $) >> 2 & 0x7ffff) << 5
                                                                ; adr x1, message
.next:
    dd 0x38401420                                               ; ldrb w0, [x1], #1
    dd 0x34000000 | ((.halt - $) >> 2 & 0x7ffff) << 5           ; cbz w0, .halt
.wait:
    dd 0xb9401843                                               ; ldr w3, [x2, #0x18]
    dd 0x37280003 | ((.wait - $) >> 2 & 0x3fff) << 5            ; tbnz w3, #5, .wait
    dd 0xb9000040                                               ; str w0, [x2]
    dd 0x14000000 | ((.next - $) >> 2 & 0x3ffffff)              ; b .next
.halt:
    dd 0xd5034fdf                                               ; msr daifset, #0xf
    dd 0xd503207f                                               ; wfi
    dd 0x14000000 | ((.halt - $) >> 2 & 0x3ffffff)              ; b .halt"""

# Per architecture: the PE machine type, the code and the removable-media boot file name.
_EFI_ARCHITECTURES = {
    "x64": ("0x8664", _X64_CODE.format(serial_write=_SERIAL_WRITE), "BOOTX64.EFI"),
    "aa64": ("0xaa64", _AARCH64_CODE, "BOOTAA64.EFI"),
}


def missing_tools() -> list[str]:
    """The programs of ``TOOLS`` that are not on PATH."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def marker(name: str) -> str:
    """The line the media called ``name`` prints: ``SRMARK:<name>``."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"marker name {name!r} is not 1-40 of [A-Za-z0-9._-]")
    return MARKER_PREFIX + name


def markers_in(log: str) -> list[str]:
    """The names of the complete marker lines in a serial log, in the order printed."""
    return _MARKER.findall(log)


def bios_boot_sector_source(name: str) -> str:
    """The nasm source of a boot sector that prints ``name``'s marker and halts."""
    return _BIOS_BOOT_SECTOR.format(serial_write=_SERIAL_WRITE, marker=marker(name))


def efi_application_source(name: str, arch: str = "x64") -> str:
    """The nasm source of an EFI application for ``arch`` that prints ``name``'s marker and halts.

    ``arch`` is UEFI's short name of the architecture: ``x64`` or ``aa64``.
    """
    machine, code, _ = _EFI_ARCHITECTURES[arch]
    return _EFI_APPLICATION.format(machine=machine, code=code, marker=marker(name))


def _run(argv: list[str]) -> None:
    """Run a build tool; raise with its output when it fails."""
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")


def assemble(source: str, directory: Path, stem: str) -> bytes:
    """The flat binary ``nasm -f bin`` makes of ``source`` (files kept in ``directory``)."""
    source_path = directory / f"{stem}.asm"
    binary_path = directory / f"{stem}.bin"
    source_path.write_text(source, encoding="ascii")
    _run(["nasm", "-f", "bin", "-o", str(binary_path), str(source_path)])
    return binary_path.read_bytes()


def bios_boot_sector(name: str, directory: Path) -> bytes:
    """The 512 bytes of ``name``'s boot sector."""
    sector = assemble(bios_boot_sector_source(name), directory, f"{name}-bios")
    assert len(sector) == SECTOR_BYTES, len(sector)
    assert sector.endswith(b"\x55\xaa")
    return sector


def efi_application(name: str, directory: Path, arch: str = "x64") -> bytes:
    """The PE32+ file of ``name``'s EFI application for ``arch``."""
    application = assemble(efi_application_source(name, arch), directory, f"{name}-efi-{arch}")
    assert application.startswith(b"MZ")
    assert len(application) % SECTOR_BYTES == 0, len(application)
    return application


def _with_format(raw: Path, disk_format: str) -> Path:
    """``raw`` itself for ``raw``; else a copy converted by qemu-img, next to it."""
    if disk_format == "raw":
        return raw
    converted = raw.with_suffix(f".{disk_format}")
    _run(["qemu-img", "convert", "-q", "-f", "raw", "-O", disk_format, str(raw), str(converted)])
    raw.unlink()
    return converted


def bios_disk(name: str, directory: Path, disk_format: str = "raw") -> Path:
    """A 1 MiB disk of ``disk_format`` whose boot sector prints ``name``'s marker."""
    raw = directory / f"{name}.raw"
    raw.write_bytes(bios_boot_sector(name, directory).ljust(DISK_BYTES, b"\0"))
    return _with_format(raw, disk_format)


def bios_iso(name: str, directory: Path) -> Path:
    """An El Torito CD-ROM whose no-emulation boot image prints ``name``'s marker."""
    tree = directory / f"{name}-iso-tree"
    tree.mkdir()
    # Four 512-byte sectors (-boot-load-size 4), one 2048-byte CD sector, as isolinux does.
    (tree / "boot.img").write_bytes(bios_boot_sector(name, directory).ljust(2048, b"\0"))
    iso = directory / f"{name}.iso"
    _run(
        [
            "xorriso", "-as", "mkisofs", "-quiet", "-V", "SRMARK", "-o", str(iso),
            "-b", "boot.img", "-no-emul-boot", "-boot-load-size", "4", str(tree),
        ]
    )  # fmt: skip
    return iso


def efi_boot_image(name: str, directory: Path, arch: str = "x64") -> bytes:
    r"""A FAT12 file system holding ``name``'s EFI application as ``\EFI\BOOT\BOOT<ARCH>.EFI``."""
    file_name = _EFI_ARCHITECTURES[arch][2]
    return fat12_image(("EFI", "BOOT", file_name), efi_application(name, directory, arch))


def efi_disk(name: str, directory: Path, disk_format: str = "raw", arch: str = "x64") -> Path:
    """A disk of ``disk_format``: the FAT12 file system of ``efi_boot_image``."""
    raw = directory / f"{name}.raw"
    raw.write_bytes(efi_boot_image(name, directory, arch))
    return _with_format(raw, disk_format)


def efi_iso(name: str, directory: Path, arch: str = "x64") -> Path:
    """An El Torito CD-ROM whose EFI boot image is the FAT image of ``efi_disk``."""
    tree = directory / f"{name}-iso-tree"
    tree.mkdir()
    (tree / "efiboot.img").write_bytes(efi_boot_image(name, directory, arch))
    iso = directory / f"{name}.iso"
    _run(
        [
            "xorriso", "-as", "mkisofs", "-quiet", "-V", "SRMARK", "-o", str(iso),
            "-e", "efiboot.img", "-no-emul-boot", str(tree),
        ]
    )  # fmt: skip
    return iso


def blank_disk(name: str, directory: Path, disk_format: str, size: str = "1M") -> Path:
    """An empty disk image made by ``qemu-img create``."""
    path = directory / f"{name}.{disk_format}"
    _run(["qemu-img", "create", "-q", "-f", disk_format, str(path), size])
    return path


# FAT12 with the geometry of a 1.44 MB floppy: 512-byte sectors and clusters, 1 reserved sector,
# 2 FATs of 9 sectors, 224 root entries (14 sectors), 2880 sectors. Data starts at sector 33
# with cluster 2 (Microsoft's "FAT: General Overview of On-Disk Format", 2000).
_FAT_TOTAL_SECTORS = 2880
_FAT_SECTORS = 9
_FAT_COPIES = 2
_ROOT_ENTRIES = 224
_ROOT_SECTORS = _ROOT_ENTRIES * 32 // SECTOR_BYTES
_FAT_END_OF_CHAIN = 0xFFF
_ATTRIBUTE_DIRECTORY = 0x10
_ATTRIBUTE_ARCHIVE = 0x20
_FAT_DATE = (2024 - 1980) << 9 | 1 << 5 | 1  # 2024-01-01


def _short_name(name: str) -> bytes:
    """The 11-byte 8.3 directory name of ``name`` (upper case, space padded)."""
    base, _, extension = name.upper().partition(".")
    if not (1 <= len(base) <= 8 and len(extension) <= 3 and (base + extension).isalnum()):
        raise ValueError(f"{name!r} is not an 8.3 name")
    return base.ljust(8).encode("ascii") + extension.ljust(3).encode("ascii")


def _directory_entry(name: bytes, attribute: int, cluster: int, size: int) -> bytes:
    """One 32-byte FAT directory entry."""
    return struct.pack(
        "<11sBBBHHHHHHHI",
        name, attribute, 0, 0, 0, _FAT_DATE, _FAT_DATE, 0, 0, _FAT_DATE, cluster, size,
    )  # fmt: skip


def _boot_sector() -> bytes:
    """The FAT12 boot sector with the BIOS parameter block; its partition table is all zeros.

    Zeros there mean no valid MBR (EDK2's PartitionValidMbr needs an entry with a type and a
    size), so OVMF mounts the whole disk as one file system, as it does a floppy.
    """
    sector = bytearray(SECTOR_BYTES)
    sector[0:3] = b"\xeb\x3c\x90"  # jmp over the BPB; nop
    sector[3:11] = b"SRMARK  "
    struct.pack_into(
        "<HBHBHHBHHHII", sector, 11,
        SECTOR_BYTES, 1, 1, _FAT_COPIES, _ROOT_ENTRIES, _FAT_TOTAL_SECTORS, 0xF0,
        _FAT_SECTORS, 18, 2, 0, 0,
    )  # fmt: skip
    struct.pack_into("<BBBI11s8s", sector, 36, 0, 0, 0x29, 0x5352_4D4B, b"SRMARK     ", b"FAT12   ")
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def _packed_fat(entries: list[int]) -> bytes:
    """FAT12 entries, two to three bytes, padded to the FAT's size."""
    padded = entries + [0] * (len(entries) % 2)
    packed = bytearray()
    for first, second in zip(padded[0::2], padded[1::2], strict=True):
        packed += bytes([first & 0xFF, (first >> 8) | ((second & 0xF) << 4), second >> 4])
    assert len(packed) <= _FAT_SECTORS * SECTOR_BYTES
    return bytes(packed).ljust(_FAT_SECTORS * SECTOR_BYTES, b"\0")


def fat12_image(path: tuple[str, ...], content: bytes) -> bytes:
    """A 1.44 MB FAT12 file system holding one file at ``path`` (directories, then the file).

    Directories take one cluster each (16 entries, of which three are used), allocated from
    cluster 2 down the path, then the file's clusters, chained.
    """
    *directories, file_name = path
    clusters: list[bytes] = []
    fat = [0xF00 | 0xF0, _FAT_END_OF_CHAIN]  # media descriptor, end-of-chain marker

    def allocate(data: bytes) -> int:
        first = len(clusters) + 2
        count = max(1, -(-len(data) // SECTOR_BYTES))
        for number in range(count):
            clusters.append(data[number * SECTOR_BYTES : (number + 1) * SECTOR_BYTES])
            fat.append(first + number + 1 if number < count - 1 else _FAT_END_OF_CHAIN)
        return first

    directory_clusters = [allocate(b"") for _ in directories]
    file_entry = _directory_entry(
        _short_name(file_name), _ATTRIBUTE_ARCHIVE, allocate(content), len(content)
    )
    child_entries = [
        _directory_entry(_short_name(name), _ATTRIBUTE_DIRECTORY, cluster, 0)
        for name, cluster in zip(directories, directory_clusters, strict=True)
    ] + [file_entry]
    for depth, cluster in enumerate(directory_clusters):
        parent = directory_clusters[depth - 1] if depth else 0  # 0 is the root directory
        clusters[cluster - 2] = (
            _directory_entry(b".          ", _ATTRIBUTE_DIRECTORY, cluster, 0)
            + _directory_entry(b"..         ", _ATTRIBUTE_DIRECTORY, parent, 0)
            + child_entries[depth + 1]
        )
    root = child_entries[0].ljust(_ROOT_SECTORS * SECTOR_BYTES, b"\0")
    data = b"".join(cluster.ljust(SECTOR_BYTES, b"\0") for cluster in clusters)
    image = _boot_sector() + _packed_fat(fat) * _FAT_COPIES + root + data
    assert len(image) <= _FAT_TOTAL_SECTORS * SECTOR_BYTES
    return image.ljust(_FAT_TOTAL_SECTORS * SECTOR_BYTES, b"\0")
