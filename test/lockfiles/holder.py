# A real lock-file user for the lockfiles tests, run by /usr/bin/python3 (Debian's
# python3-fasteners and python3-oslo.concurrency live there, not in a pyenv python).
#   holder.py MODE PATH [OFFSET...]
# MODE: fasteners (fasteners.InterProcessLock), oslo (oslo_concurrency.lockutils.lock
# external=True), flock (fcntl.flock), offsets (fcntl.lockf, one byte at each OFFSET),
# ofd (an open file description lock, F_OFD_SETLK), open (opened, never locked).
# Prints "ready <pid>" once it holds (or has opened) the file, then waits for stdin to close.
import fcntl
import os
import struct
import sys

mode, path = sys.argv[1], sys.argv[2]
keep = []
if mode == 'fasteners':
    import fasteners
    lock = fasteners.InterProcessLock(path)
    lock.acquire()
    keep.append(lock)
elif mode == 'oslo':
    from oslo_concurrency import lockutils
    directory, name = os.path.split(path)
    cm = lockutils.lock(name, external=True, lock_path=directory)
    cm.__enter__()
    keep.append(cm)
elif mode == 'flock':
    f = open(path, 'a')
    fcntl.flock(f, fcntl.LOCK_EX)
    keep.append(f)
elif mode == 'offsets':
    f = open(path, 'a+')
    for offset in sys.argv[3:]:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, int(offset), os.SEEK_SET)
    keep.append(f)
elif mode == 'ofd':
    F_OFD_SETLK = 37  # linux/fcntl.h; the struct is struct flock (short, short, off_t, off_t, pid_t)
    f = open(path, 'a')
    fcntl.fcntl(f, F_OFD_SETLK, struct.pack('hhqqi', fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
    keep.append(f)
elif mode == 'open':
    keep.append(open(path, 'a'))
else:
    sys.exit('unknown mode ' + mode)
print('ready', os.getpid(), flush=True)
sys.stdin.read()
