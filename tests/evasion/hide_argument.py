# Passes a syscall's path or address argument in a page the process never touched: a file-backed
# private mapping, which the kernel faults in while a reader at syscall entry finds it missing.
#   hide_argument.py DIR unlink PATH...
#   hide_argument.py DIR connect IP PORT
import ctypes
import os
import socket
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
PROT_READ, MAP_PRIVATE = 1, 2
scratch = sys.argv[1]
count = 0


def untouched(data):
    global count
    count += 1
    name = os.path.join(scratch, f"arg-{os.getpid()}-{count}")
    with open(name, "wb") as f:
        f.write(data + b"\0")
    fd = os.open(name, os.O_RDONLY)
    address = libc.mmap(None, 4096, PROT_READ, MAP_PRIVATE, fd, 0)
    os.close(fd)
    return ctypes.c_void_p(address)


if sys.argv[2] == "unlink":
    for path in sys.argv[3:]:
        result = libc.unlink(untouched(path.encode()))
        print("unlink", os.path.basename(path), result, ctypes.get_errno(), flush=True)
elif sys.argv[2] == "connect":
    ip, port = sys.argv[3], int(sys.argv[4])
    address = struct.pack("=H", socket.AF_INET) + struct.pack(">H", port) + socket.inet_aton(ip) + b"\0" * 8
    s = socket.socket()
    result = libc.connect(s.fileno(), untouched(address), 16)
    print("connect", result, ctypes.get_errno() if result else 0, flush=True)
