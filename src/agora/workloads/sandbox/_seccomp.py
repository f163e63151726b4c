"""A seccomp filter that shrinks the kernel surface an untrusted program can reach.

Deny-list, as Docker's and Flatpak's defaults are: the system calls a data-science program never
needs and kernel exploits often start from (io_uring, bpf, perf_event_open, userfaultfd, the
keyrings), and everything that administers the machine or its mounts. They fail with EPERM; a
call from another ABI (32-bit x86 on x86_64, the x32 ABI) kills the process, so the list cannot
be bypassed through other numbers. Built by hand as classic BPF (no libseccomp) for x86_64 and
aarch64; on other machines there is no filter (``build_filter`` returns None).
"""

from __future__ import annotations

import errno
import platform
import struct

__all__ = ["BLOCKED", "build_filter"]

#: name -> (x86_64 number, aarch64 number); None where the call does not exist.
BLOCKED: dict[str, tuple[int | None, int | None]] = {
    # kernel attack surface a data-science program does not use
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "keyctl": (250, 219),
    # other processes and namespaces
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "unshare": (272, 97),
    "setns": (308, 268),
    # mounts and file handles
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "chroot": (161, 51),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    "name_to_handle_at": (303, 264),
    "open_by_handle_at": (304, 265),
    "fanotify_init": (300, 262),
    # the machine
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "reboot": (169, 142),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "acct": (163, 89),
    "quotactl": (179, 60),
    "syslog": (103, 116),
    "vhangup": (153, 58),
    "lookup_dcookie": (212, 18),
    "iopl": (172, None),
    "ioperm": (173, None),
}

_ARCHES = {"x86_64": (0xC000003E, 0), "aarch64": (0xC00000B7, 1)}  # AUDIT_ARCH_*, column of BLOCKED
_X32_SYSCALL_BIT = 0x40000000

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_EPERM = 0x00050000 | errno.EPERM
_OFFSET_NR, _OFFSET_ARCH = 0, 4  # in struct seccomp_data


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def build_filter(machine: str | None = None) -> bytes | None:
    """The filter as a ``struct sock_filter`` array for ``bwrap --seccomp``; None on other machines."""
    machine = machine or platform.machine()
    if machine not in _ARCHES:
        return None
    arch, column = _ARCHES[machine]
    numbers = sorted({number for nrs in BLOCKED.values() if (number := nrs[column]) is not None})
    checks = len(numbers) + (1 if machine == "x86_64" else 0)
    program = [
        _insn(_LD_W_ABS, _OFFSET_ARCH),
        _insn(_JEQ_K, arch, jt=1, jf=0),
        _insn(_RET_K, _RET_KILL_PROCESS),  # another ABI: other numbers, so no deny-list holds
        _insn(_LD_W_ABS, _OFFSET_NR),
    ]
    # each check jumps to the EPERM return after the last check and the ALLOW return
    remaining = checks
    if machine == "x86_64":
        program.append(_insn(_JGE_K, _X32_SYSCALL_BIT, jt=remaining, jf=0))
        remaining -= 1
    for number in numbers:
        program.append(_insn(_JEQ_K, number, jt=remaining, jf=0))
        remaining -= 1
    program += [_insn(_RET_K, _RET_ALLOW), _insn(_RET_K, _RET_EPERM)]
    return b"".join(program)
