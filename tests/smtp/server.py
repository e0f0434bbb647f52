"""A real SMTP server on loopback for Nuage's alert tests (aiosmtpd,
Debian's python3-aiosmtpd): every accepted message is written to OUT as
<n>.json (envelope, decoded headers and text), atomically. Faults on demand:

  --fail-first N   answer the first N messages with 451 (try later)
  --refuse         answer every message with 554 (refused for good)
  --user U --password P   require AUTH (over the plain loopback link)

Prints "port <n>" once listening; stops on SIGTERM or when stdin closes.
"""
import argparse
import asyncio
import email
import email.policy
import json
import os
import signal
import sys
import warnings

from aiosmtpd.controller import UnthreadedController
from aiosmtpd.smtp import AuthResult, LoginPassword

# AUTH over the plain loopback link is what these tests want.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--fail-first", type=int, default=0)
ap.add_argument("--refuse", action="store_true")
ap.add_argument("--user")
ap.add_argument("--password")
args = ap.parse_args()


class Handler:
    def __init__(self):
        self.fails = args.fail_first
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        if args.refuse:
            return "554 5.7.1 Message refused by policy"
        if self.fails > 0:
            self.fails -= 1
            return "451 4.3.0 Try again later"
        self.n += 1
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_to": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "message_id": str(msg["Message-ID"]),
            "body": msg.get_content(),
            "raw": envelope.original_content.decode("utf-8", "replace"),
        }
        path = os.path.join(args.out, f"{self.n:04d}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 Accepted"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == args.user
        and auth_data.password.decode() == args.password
    )
    # handled=False: aiosmtpd answers 535 itself.
    return AuthResult(success=ok, handled=False)


kwargs = {}
if args.user:
    kwargs = dict(authenticator=authenticator, auth_required=True, auth_require_tls=False)


loop = asyncio.new_event_loop()
# Unthreaded, on this loop: port 0 lets the kernel choose (no race for a
# free port), then the port is said.
controller = UnthreadedController(Handler(), hostname="127.0.0.1", port=args.port or 0, loop=loop, **kwargs)
controller.begin()
port = controller.server.sockets[0].getsockname()[1]
print(f"port {port}", flush=True)
stop = asyncio.Event()
loop.add_signal_handler(signal.SIGTERM, stop.set)
loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read() or stop.set())
loop.run_until_complete(stop.wait())
controller.end()
