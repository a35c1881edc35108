# The usual cron job, as a control for the lockfiles race test: lock each file without
# waiting and delete it if that works. Run by /usr/bin/python3:  naive_cleaner.py DIR SECONDS
import fcntl
import os
import sys
import time

directory, seconds = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + seconds
deleted = 0
while time.monotonic() < end:
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        try:
            f = open(path, 'a')
        except OSError:
            continue
        try:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(path)
            deleted += 1
        except OSError:
            pass
        finally:
            f.close()
print('deleted', deleted, flush=True)
