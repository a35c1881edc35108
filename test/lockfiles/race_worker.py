# A worker of the lockfiles race test, run by /usr/bin/python3 (Debian's python3-fasteners):
#   race_worker.py DIR LOG SECONDS NAME...
# Until SECONDS have passed, it takes fasteners.InterProcessLock(DIR/NAME) for a random NAME and,
# inside the critical section, appends "+ NAME PID" then "- NAME PID" to LOG (O_APPEND: each
# line is one write, so the file is a total order of entries and exits). The test counts
# overlaps from LOG alone: a "+" for a name whose previous "+" has no "-" yet.
import os
import random
import sys
import time

import fasteners

directory, log, seconds, names = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
pid = os.getpid()
end = time.monotonic() + seconds
sections = 0
while time.monotonic() < end:
    name = random.choice(names)
    lock = fasteners.InterProcessLock(os.path.join(directory, name))
    with lock:
        os.write(fd, ('+ %s %d\n' % (name, pid)).encode())
        time.sleep(random.random() * 0.002)
        os.write(fd, ('- %s %d\n' % (name, pid)).encode())
    sections += 1
print('sections', sections, flush=True)
