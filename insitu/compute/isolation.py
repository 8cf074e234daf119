"""OS-level confinement applied inside the sandboxed process, before any algorithm code runs.

Two strategies, chosen by `confine()`:

* ``namespaces`` (Linux, root, single-threaded process): a private mount namespace and an empty
  network namespace (no interface is up, not even loopback, so every connect fails). In the
  new mount namespace every mount is remounted read-only except the run's scratch, output and
  local folders; the private data paths are additionally bind-mounted read-only over
  themselves, so even the original path is unwritable (EROFS, which root cannot bypass without
  CAP_SYS_ADMIN). Then every capability is dropped (bounding, permitted, effective,
  inheritable) and no_new_privs is set, so the algorithm cannot remount, re-enter the host
  namespaces or regain privileges through a setuid binary. Nothing is copied.
* ``hooks`` (anywhere else): a Python audit hook refuses socket connects/sends, process
  creation, and any write/rename/delete/chmod under the data paths. It is a guard against
  accidents and naive code, not a security boundary: code using ctypes can bypass it.

Resource limits (rlimits) are applied in both cases by the launcher.
"""

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_CAP_LAST = 63

# Kernel-managed trees: remounting them is pointless (proc/sys are per-namespace views or
# already locked) and writes to /dev/null etc. must keep working.
_SKIP_REMOUNT_PREFIXES = ("/proc", "/sys", "/dev")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(libc: ctypes.CDLL, source: str | None, target: str, flags: int) -> None:
    _check(
        libc.mount(
            source.encode() if source else None, target.encode(), None, ctypes.c_ulong(flags), None
        ),
        f"mount {target}",
    )


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mounts() -> list[tuple[str, set[str]]]:
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            mounts.append((_unescape(parts[4]), set(parts[5].split(","))))
    return mounts


def _flags_of(options: set[str]) -> int:
    flags = 0
    for name, bit in (("nosuid", MS_NOSUID), ("nodev", MS_NODEV), ("noexec", MS_NOEXEC)):
        if name in options:
            flags |= bit
    return flags


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _drop_all_capabilities(libc: ctypes.CDLL) -> None:
    for cap in range(_CAP_LAST + 1):
        # EINVAL marks capabilities this kernel does not know: nothing to drop.
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:
            _check(-1, f"drop capability {cap} from the bounding set")
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), data), "capset")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")


def namespaces_available() -> bool:
    """Whether `enter_namespaces` can work here (Linux with root privileges)."""
    return sys.platform == "linux" and os.geteuid() == 0


def enter_namespaces(readonly: Sequence[Path], writable: Sequence[Path]) -> dict[str, Any]:
    """Confine the calling (single-threaded) process as described in the module docstring.

    Raises OSError if the namespaces cannot be created; partial failures of the whole-filesystem
    read-only remount are tolerated and counted in the returned report.
    """
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare(CLONE_NEWNS|CLONE_NEWNET)")
    # Without this, mounts made below would propagate back into the host's namespace.
    _mount(libc, None, "/", MS_REC | MS_PRIVATE)
    writable_s = [str(Path(p).resolve()) for p in writable]
    readonly_s = [str(Path(p).resolve()) for p in readonly]
    for path in writable_s:
        _mount(libc, path, path, MS_BIND | MS_REC)
    for path in readonly_s:
        _mount(libc, path, path, MS_BIND | MS_REC)
        _mount(libc, None, path, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    remounted, failed = 0, []
    for target, options in _mounts():
        if (
            _under(target, _SKIP_REMOUNT_PREFIXES)
            or target in writable_s
            or _under(target, readonly_s)
            or "ro" in options
        ):
            continue
        try:
            _mount(libc, None, target, MS_BIND | MS_REMOUNT | MS_RDONLY | _flags_of(options))
            remounted += 1
        except OSError:
            failed.append(target)
    _drop_all_capabilities(libc)
    return {
        "mode": "namespaces",
        "network": "empty netns",
        "data": "read-only bind mount",
        "filesystem_readonly_mounts": remounted,
        "filesystem_remount_failures": failed,
        "capabilities": "all dropped",
    }


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = frozenset(
    {
        "os.remove",
        "os.rename",
        "os.rmdir",
        "os.chmod",
        "os.chown",
        "os.truncate",
        "os.utime",
        "os.link",
        "os.symlink",
        "os.mkdir",
        "shutil.rmtree",
        "shutil.move",
        "shutil.copyfile",
    }
)
_BLOCKED_EVENTS = frozenset(
    {
        "socket.connect",
        "socket.sendto",
        "socket.sendmsg",
        "socket.bind",
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "pty.spawn",
    }
)


def install_audit_hook(readonly: Sequence[Path]) -> dict[str, Any]:
    """Install the fallback audit hook (see the module docstring); irreversible by design."""
    roots = tuple(os.path.realpath(p) for p in readonly)

    def is_protected(path: object) -> bool:
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str | os.PathLike):
            return False
        return _under(os.path.realpath(os.fspath(path)), roots)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in _BLOCKED_EVENTS:
            raise PermissionError(f"sandbox: {event} is not allowed for algorithms")
        if event == "open" and len(args) >= 3:
            path, mode, flags = args[0], args[1], args[2]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writes and is_protected(path):
                raise PermissionError(f"sandbox: the data at {path} is read-only")
        elif event in _PATH_EVENTS and any(is_protected(a) for a in args[:2]):
            raise PermissionError(f"sandbox: {event} on the read-only data is not allowed")

    sys.addaudithook(hook)
    return {
        "mode": "hooks",
        "network": "audit hook (socket connect/send/bind refused)",
        "data": "audit hook (writes refused)",
        "capabilities": "unchanged",
    }
