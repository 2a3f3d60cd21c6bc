"""Open a socket in the launcher, before the wrapper runs, and pass it on.

Used as the first word of the launch options: it creates an unconnected
TCP socket while still in the launcher's scope, leaves it open across exec,
names it in GBOX_LAUNCHER_FD and execs the rest of the line (the wrapper).
"""

import os
import socket
import sys

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
os.set_inheritable(sock.fileno(), True)
os.environ["GBOX_LAUNCHER_FD"] = str(sock.fileno())
os.execvp(sys.argv[1], sys.argv[1:])
