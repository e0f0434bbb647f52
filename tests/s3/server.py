"""A real S3-compatible server on loopback for Nuage's S3 tests: moto's S3
backend (tests/s3/requirements.txt, run from the venv scripts/deps.sh makes
in ~/.cache/nuage/s3-venv) behind a strict gate that demands what Cloudflare
R2 demands, with faults on demand. One process, one port, keep-alive HTTP/1.1.

  --port N                 0 (default): the kernel chooses
  --access-key AK --secret SK   the one credential; every request is checked
                           as SigV4 (header or presigned query)
  --region R               the signing region (default us-east-1; "auto" is
                           accepted too, as R2 does)
  --bucket NAME            created at start (repeatable)
  --lock-bucket NAME       created at start with Object Lock (repeatable)
  --min-part BYTES         smallest non-trailing multipart part (default 5 MiB)
  --admin                  allow ListBuckets and CreateBucket (refused by
                           default, like an R2 token scoped to one bucket)
  --spool-dir DIR          where objects and parts over 1 MiB are kept, as
                           unlinked files (default /dev/shm, tmpfs)

Rules (see README.md): SigV4 verified (payload hash too, UNSIGNED-PAYLOAD
allowed, STREAMING-*/aws-chunked refused), Content-MD5 verified, 15 minutes
of clock skew at most, no x-amz-checksum-* / x-amz-sdk-checksum-algorithm /
x-amz-trailer headers, multipart parts all of one size but the last (which
is no larger), Object Lock headers only on lock buckets.

Control API, unsigned, on the same port:
  POST /_nuage/faults  JSON, counters used up one per matching request:
      {"slowdown": N}  503 SlowDown        {"status429": N}  429 TooManyRequests
      {"status500": N} 500 InternalError   optional "ops": [...], "retry_after": S,
                       "after": K (let K matching requests through first)
      {"cut_part": N, "cut_after": BYTES}  the next N UploadPart (or "ops")
                       requests: read BYTES of the body, then reset the TCP
                       connection without answering
      {"listparts_lag": N}  the next N ListParts omit the latest uploaded part
      {"skew": SECONDS}     the server's clock offset (Date header included)
      {"deny": ["DeleteObject", ...]}  those operations: 403 AccessDenied
      {"corrupt": "bucket/key", "offset": N}  flip one stored byte, same ETag
      {"cut_answer": N, "cut_after": BYTES}  the next N 2xx answers
                            to GetObject (or "ops"): headers and BYTES
                            of the body, then the connection is reset
      {"ignore_range": N}   the next N ranged GetObject: the whole object, 200
      {"endless_get": N}    the next N GetObject: 200 with a body that never
                            ends (zeros, a 1 TiB Content-Length)
      {"kms": true}         as a bucket encrypted with SSE-KMS: PutObject and
                            HeadObject answers say so, with ETags that are
                            not the MD5 of the object
      {"endless": N}        the next N listings (ListObjectsV2, ListParts,
                            ListMultipartUploads) answer an empty page that
                            says more follow, with a new marker each time
  GET  /_nuage/faults    what is armed
  GET  /_nuage/log       the S3 requests seen, oldest first
  POST /_nuage/reset     clears faults and log
  GET  /_nuage/uploads   multipart uploads in progress
  GET  /_nuage/objects   stored objects (bucket, key, size, etag, lock)

Prints "port <n>" once listening; stops on SIGTERM or when stdin closes.
"""
import argparse
import base64
import calendar
import collections
import ctypes
import email.utils
import hashlib
import hmac
import http.server
import io
import json
import os
import re
import signal
import socket
import socketserver
import struct
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--access-key", required=True)
ap.add_argument("--secret", required=True)
ap.add_argument("--region", default="us-east-1")
ap.add_argument("--bucket", action="append", default=[])
ap.add_argument("--lock-bucket", action="append", default=[])
ap.add_argument("--min-part", type=int, default=5 * 1024 * 1024)
ap.add_argument("--admin", action="store_true")
ap.add_argument("--spool-dir", default="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
args = ap.parse_args()
try:
    # M_MMAP_THRESHOLD fixed at 128 KiB: glibc otherwise raises it as big
    # buffers are freed, and keeps every freed 5 MiB body in its arenas.
    ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024)
except (OSError, AttributeError):
    pass
if args.spool_dir:
    # Objects and parts over 1 MiB are unlinked temporary files here: tmpfs
    # is several times faster than the disk for a 1 GB benchmark.
    tempfile.tempdir = args.spool_dir

# Before moto is imported (it reads them once): the part-size rules are the
# gate's; objects and parts over 1 MiB live in temporary files, not in RAM.
os.environ["S3_UPLOAD_PART_MIN_SIZE"] = "0"
os.environ.setdefault("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(1024 * 1024))
os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "true"

from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY  # noqa: E402
from moto.moto_server.werkzeug_app import create_backend_app  # noqa: E402
from moto.s3 import exceptions as moto_s3_exceptions  # noqa: E402
from moto.s3 import models as moto_s3_models  # noqa: E402
from moto.s3.models import s3_backends  # noqa: E402
from moto.s3.responses import ALLOWED_HEADER_OVERRIDES  # noqa: E402
from werkzeug.test import Client  # noqa: E402

MOTO = create_backend_app("s3")
BACKEND = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


# Patches of moto 5.2.6 (pinned) so that a 1 GB object does not cost 1 GB
# of RAM, let alone the five its CompleteMultipartUpload takes (a bytearray
# of the whole object, a copy for a CRC64NVME nobody asked for, and bytes()
# of both): the parts are concatenated file to file by the kernel into the
# new object's file; a body bigger than the spool threshold goes straight
# to its file; the ETag (MD5) the gate already hashed is reused.
class Assembled:
    """A completed multipart object's value: a file, not bytes."""

    def __init__(self, file, size):
        self.file, self.size = file, size

    def __len__(self):
        return self.size


def lean_complete(self, body):
    parts, md5s = [], bytearray()
    for pn, etag in body:
        part = self.parts.get(pn)
        if part is None or part.etag.replace('"', "") != etag.replace('"', ""):
            raise moto_s3_exceptions.InvalidPart()
        md5s.extend(bytes.fromhex(part.etag.replace('"', "")))
        parts.append(part)
    if not parts:
        raise moto_s3_exceptions.MalformedXML()
    out = tempfile.TemporaryFile()
    for p in parts:
        with p.lock:
            src = p._value_buffer
            src.seek(0)
            if getattr(src, "_rolled", False):
                src.flush()
                left, offset = p.contentsize, 0
                out.flush()
                while left > 0:
                    n = os.copy_file_range(src.fileno(), out.fileno(), left, offset_src=offset)
                    if n <= 0:
                        raise OSError("copy_file_range copied nothing")
                    left -= n
                    offset += n
                out.seek(0, os.SEEK_END)
            else:
                out.write(src.read())
    out.flush()
    self.completed_part_sizes = [p.size for p in parts]
    return Assembled(out, sum(self.completed_part_sizes)), f"{hashlib.md5(bytes(md5s)).hexdigest()}-{len(parts)}", None


moto_value_setter = moto_s3_models.FakeKey.value.fset
BODY_MD5 = threading.local()  # (body, its md5) hashed by the gate on this thread


def value_setter(self, new_value):
    if isinstance(new_value, Assembled):
        spool = tempfile.SpooledTemporaryFile(max_size=self._max_buffer_size)
        spool._file.close()
        spool._file, spool._rolled = new_value.file, True
        self._value_buffer.close()
        self._value_buffer = spool
        self.contentsize = new_value.size
        return
    if len(new_value) > self._max_buffer_size:
        self._value_buffer.truncate(0)
        self._value_buffer.rollover()
    if self._etag is None:  # from memory, not by reading the file back
        hint = getattr(BODY_MD5, "value", None)
        if hint is not None and hint[0] is new_value:
            self._etag = hint[1]
        else:
            self._etag = hashlib.md5(new_value).hexdigest()
    moto_value_setter(self, new_value)


moto_s3_models.FakeMultipart.complete = lean_complete
moto_s3_models.FakeKey.value = moto_s3_models.FakeKey.value.setter(value_setter)

MAX_SKEW = 15 * 60
CHUNK = 1024 * 1024
SPOOL_MEMORY = 16 * 1024 * 1024
STREAM_MIN = 1024 * 1024
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNRESERVED = "-_.~"


# ---------------------------------------------------------------- state


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.rules = []  # [{"kind", "remaining", "ops", "retry_after", "cut_after"}]
        self.listparts_lag = 0
        self.endless = 0
        self.kms = False
        self.ignore_range = 0
        self.endless_get = 0
        self.skew = 0.0
        self.deny = set()
        self.log = collections.deque(maxlen=100_000)
        self.last_part = {}  # uploadId -> part number of the latest UploadPart
        self.initiated = getattr(self, "initiated", {})  # uploadId -> when started (kept across resets)

    def now(self):
        return time.time() + self.skew

    def take(self, kinds, op):
        """The first armed rule of one of these kinds that matches op, used up by one."""
        with self.lock:
            for rule in self.rules:
                if rule["kind"] in kinds and rule["remaining"] > 0:
                    ops = rule["ops"]
                    if ops is None and rule["kind"] == "cut":
                        ops = ["UploadPart"]
                    if ops is None and rule["kind"] == "cut_answer":
                        ops = ["GetObject"]
                    if ops is not None and op not in ops:
                        continue
                    if rule.get("after", 0) > 0:
                        # Let this many matching requests through first.
                        rule["after"] -= 1
                        return None
                    rule["remaining"] -= 1
                    if rule["remaining"] == 0:
                        self.rules.remove(rule)
                    return dict(rule)
        return None

    def describe(self):
        with self.lock:
            return {
                "rules": [dict(r) for r in self.rules],
                "listparts_lag": self.listparts_lag,
                "endless": self.endless,
                "kms": self.kms,
                "ignore_range": self.ignore_range,
                "endless_get": self.endless_get,
                "skew": self.skew,
                "deny": sorted(self.deny),
            }


STATE = State()


def new_request_id():
    return uuid.uuid4().hex[:16].upper()


class S3Error(Exception):
    def __init__(self, status, code, message, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_body(code, message, resource, request_id, extra=None):
    parts = [f"<Code>{escape(code)}</Code>", f"<Message>{escape(message)}</Message>"]
    for k, v in (extra or {}).items():
        parts.append(f"<{k}>{escape(str(v))}</{k}>")
    parts.append(f"<Resource>{escape(resource)}</Resource>")
    parts.append(f"<RequestId>{request_id}</RequestId>")
    parts.append(f"<HostId>{request_id}</HostId>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>").encode()


# ---------------------------------------------------------------- requests


def split_target(target):
    path, _, query = target.partition("?")
    return path or "/", query


def parse_query(raw_query):
    """[(name, value)] percent-decoded ('+' stays '+'), in order."""
    out = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        out.append(
            (
                urllib.parse.unquote_to_bytes(name).decode("utf-8", "replace"),
                urllib.parse.unquote_to_bytes(value).decode("utf-8", "replace"),
            )
        )
    return out


def locate(host, raw_path):
    """(bucket, key) from path-style or <bucket>.localhost virtual-host style."""
    path = urllib.parse.unquote_to_bytes(raw_path).decode("utf-8", "replace")
    hostname = re.sub(r":\d+$", "", host or "").lower()
    if hostname.endswith(".localhost"):
        bucket = hostname[: -len(".localhost")]
        return bucket, path[1:] or None
    rest = path[1:]
    if not rest:
        return None, None
    bucket, sep, key = rest.partition("/")
    return bucket, (key if sep and key else None)


BUCKET_SUBRESOURCES = {
    "acl": "BucketAcl",
    "accelerate": "BucketAccelerateConfiguration",
    "analytics": "BucketAnalyticsConfiguration",
    "cors": "BucketCors",
    "encryption": "BucketEncryption",
    "intelligent-tiering": "BucketIntelligentTieringConfiguration",
    "inventory": "BucketInventoryConfiguration",
    "lifecycle": "BucketLifecycleConfiguration",
    "location": "BucketLocation",
    "logging": "BucketLogging",
    "metrics": "BucketMetricsConfiguration",
    "notification": "BucketNotificationConfiguration",
    "object-lock": "ObjectLockConfiguration",
    "ownershipControls": "BucketOwnershipControls",
    "policy": "BucketPolicy",
    "policyStatus": "BucketPolicyStatus",
    "publicAccessBlock": "PublicAccessBlock",
    "replication": "BucketReplication",
    "requestPayment": "BucketRequestPayment",
    "tagging": "BucketTagging",
    "versioning": "BucketVersioning",
    "website": "BucketWebsite",
}
OBJECT_SUBRESOURCES = {
    "retention": "ObjectRetention",
    "legal-hold": "ObjectLegalHold",
    "tagging": "ObjectTagging",
    "acl": "ObjectAcl",
}


def operation(method, bucket, key, q, headers):
    """The S3 API operation name of a request."""
    verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method)
    if bucket is None:
        return "ListBuckets" if method == "GET" else f"{method}Service"
    if key is None:
        if method == "GET":
            if "uploads" in q:
                return "ListMultipartUploads"
            if "versions" in q:
                return "ListObjectVersions"
        if method == "POST" and "delete" in q:
            return "DeleteObjects"
        for sub, name in BUCKET_SUBRESOURCES.items():
            if sub in q and verb:
                return verb + name
        return {
            "GET": "ListObjectsV2" if q.get("list-type") == "2" else "ListObjects",
            "PUT": "CreateBucket",
            "DELETE": "DeleteBucket",
            "HEAD": "HeadBucket",
        }.get(method, f"{method}Bucket")
    if method == "PUT":
        if "uploadId" in q and "partNumber" in q:
            return "UploadPartCopy" if "x-amz-copy-source" in headers else "UploadPart"
    if method == "GET":
        if "uploadId" in q:
            return "ListParts"
        if "attributes" in q:
            return "GetObjectAttributes"
    if method == "POST":
        if "uploads" in q:
            return "CreateMultipartUpload"
        if "uploadId" in q:
            return "CompleteMultipartUpload"
        if "restore" in q:
            return "RestoreObject"
        if "select" in q:
            return "SelectObjectContent"
        return "PostObject"
    if method == "DELETE" and "uploadId" in q:
        return "AbortMultipartUpload"
    for sub, name in OBJECT_SUBRESOURCES.items():
        if sub in q and verb:
            return verb + name
    if method == "PUT" and "x-amz-copy-source" in headers:
        return "CopyObject"
    return {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject", "DELETE": "DeleteObject"}.get(
        method, f"{method}Object"
    )


# ---------------------------------------------------------------- SigV4


def uri_encode(s, keep_slash=False):
    return urllib.parse.quote(s, safe=UNRESERVED + ("/" if keep_slash else ""))


def canonical_uri(raw_path):
    # S3 flavour: the path as sent, not normalised, each segment encoded once.
    return "/".join(uri_encode(urllib.parse.unquote_to_bytes(seg)) for seg in raw_path.split("/"))


def canonical_query(pairs):
    encoded = sorted((uri_encode(n.encode()), uri_encode(v.encode())) for n, v in pairs)
    return "&".join(f"{n}={v}" for n, v in encoded)


def canonical_header_value(values):
    return ",".join(re.sub(r"\s+", " ", v.strip()) for v in values)


def parse_amz_date(value):
    try:
        return calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ"))
    except (ValueError, TypeError):
        return None


def signing_key(date, region):
    k = hmac.new(("AWS4" + args.secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def check_scope(credential):
    parts = credential.split("/")
    if len(parts) != 5:
        raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is malformed; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
    ak, date, region, service, term = parts
    if ak != args.access_key:
        raise S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", AWSAccessKeyId=ak)
    if region not in (args.region, "auto"):
        raise S3Error(400, "AuthorizationHeaderMalformed", f"The authorization header is malformed; the region '{region}' is wrong; expecting '{args.region}'", Region=args.region)
    if service != "s3" or term != "aws4_request":
        raise S3Error(400, "AuthorizationHeaderMalformed", f"The authorization header is malformed; incorrect service \"{service}\" or terminator \"{term}\".")
    return date, region


def verify_sigv4(method, raw_path, query_pairs, headers):
    """Checks the signature; returns the payload hash the body must match
    ("UNSIGNED-PAYLOAD" when it is not signed)."""
    h = {}
    for name, value in headers:
        h.setdefault(name.lower(), []).append(value)
    now = STATE.now()
    q = dict(query_pairs)
    auth = (h.get("authorization") or [None])[0]
    presigned = "X-Amz-Signature" in q
    if auth and presigned:
        raise S3Error(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
    if not auth and not presigned and "Signature" in q and "AWSAccessKeyId" in q:
        raise S3Error(400, "InvalidRequest", "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
    if presigned:
        if q.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            raise S3Error(400, "AuthorizationQueryParametersError", "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
        for p in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders"):
            if p not in q:
                raise S3Error(400, "AuthorizationQueryParametersError", "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
        credential, amz_date = q["X-Amz-Credential"], q["X-Amz-Date"]
        signed_headers, signature = q["X-Amz-SignedHeaders"], q["X-Amz-Signature"]
        scope_date, region = check_scope(credential)
        t = parse_amz_date(amz_date)
        if t is None:
            raise S3Error(400, "AuthorizationQueryParametersError", "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
        try:
            expires = int(q["X-Amz-Expires"])
        except ValueError:
            raise S3Error(400, "AuthorizationQueryParametersError", "X-Amz-Expires should be a number")
        if expires < 0 or expires > 604800:
            raise S3Error(400, "AuthorizationQueryParametersError", "X-Amz-Expires must be less than a week (in seconds) that is 604800")
        if now > t + expires:
            raise S3Error(403, "AccessDenied", "Request has expired", **{"X-Amz-Expires": expires, "Expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t + expires)), "ServerTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})
        if t > now + MAX_SKEW:
            raise S3Error(403, "AccessDenied", "Request is not valid yet")
        payload = q.get("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
        query_for_signing = [(n, v) for n, v in query_pairs if n != "X-Amz-Signature"]
    else:
        if not auth:
            raise S3Error(403, "AccessDenied", "Access Denied")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            raise S3Error(400, "InvalidRequest", "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
        fields = dict(
            item.strip().split("=", 1) for item in auth[len("AWS4-HMAC-SHA256 "):].split(",") if "=" in item
        )
        if not all(k in fields for k in ("Credential", "SignedHeaders", "Signature")):
            raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.")
        credential, signed_headers, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
        scope_date, region = check_scope(credential)
        amz_date = (h.get("x-amz-date") or [None])[0]
        if amz_date is None:
            raise S3Error(403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
        t = parse_amz_date(amz_date)
        if t is None:
            raise S3Error(403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
        if abs(now - t) > MAX_SKEW:
            raise S3Error(
                403, "RequestTimeTooSkewed", "The difference between the request time and the server's time is too large.",
                RequestTime=amz_date, ServerTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                MaxAllowedSkewMilliseconds=MAX_SKEW * 1000,
            )
        payload = (h.get("x-amz-content-sha256") or [None])[0]
        if payload is None:
            raise S3Error(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
        query_for_signing = query_pairs
    if scope_date != amz_date[:8]:
        raise S3Error(400, "AuthorizationHeaderMalformed", f"The authorization header is malformed; Invalid credential date \"{scope_date}\". This date is not the same as X-Amz-Date: \"{amz_date[:8]}\".")
    names = signed_headers.split(";")
    if "host" not in names:
        raise S3Error(403, "AccessDenied", "There were headers present in the request which were not signed", HeadersNotSigned="host")
    unsigned = sorted(n for n in h if n.startswith("x-amz-") and n not in names)
    if unsigned:
        raise S3Error(403, "AccessDenied", "There were headers present in the request which were not signed", HeadersNotSigned=", ".join(unsigned))
    canonical = "\n".join(
        [
            method,
            canonical_uri(raw_path),
            canonical_query(query_for_signing),
            "".join(f"{n}:{canonical_header_value(h.get(n, []))}\n" for n in names),
            signed_headers,
            payload,
        ]
    )
    scope = f"{scope_date}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    expected = hmac.new(signing_key(scope_date, region), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise S3Error(
            403, "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            AWSAccessKeyId=args.access_key, StringToSign=to_sign, SignatureProvided=signature, CanonicalRequest=canonical,
        )
    return payload


# ---------------------------------------------------------------- R2 rules


def refuse_unsupported_headers(headers):
    for name, value in headers:
        n = name.lower()
        if n.startswith("x-amz-checksum-") or n in ("x-amz-sdk-checksum-algorithm", "x-amz-trailer"):
            raise S3Error(400, "NotImplemented", f"Header {n} with value {value} not implemented", Header=n)
        if n == "content-encoding" and "aws-chunked" in value.lower():
            raise S3Error(400, "NotImplemented", "Content-Encoding aws-chunked not implemented", Header=n)
        if n == "x-amz-content-sha256" and value.upper().startswith("STREAMING-"):
            raise S3Error(400, "NotImplemented", f"Header x-amz-content-sha256 with value {value} not implemented", Header=n)


def check_object_lock(op, bucket, h):
    if op not in ("PutObject", "CreateMultipartUpload", "CopyObject"):
        return
    wants = (
        "x-amz-object-lock-mode" in h
        or "x-amz-object-lock-retain-until-date" in h
        or h.get("x-amz-object-lock-legal-hold", "").upper() == "ON"
    )
    b = BACKEND.buckets.get(bucket)
    if wants and b is not None and not b.object_lock_enabled:
        raise S3Error(400, "InvalidRequest", "Bucket is missing Object Lock Configuration")


def check_complete(bucket, upload_id, body):
    """R2: every part but the last of one size, the last no larger; AWS: at
    least --min-part each but the last, in ascending order."""
    b = BACKEND.buckets.get(bucket)
    mp = b.multiparts.get(upload_id) if b is not None else None
    if mp is None:
        return  # moto answers NoSuchUpload / NoSuchBucket
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
    numbers = []
    for el in root.iter():
        if el.tag.split("}")[-1] == "PartNumber":
            try:
                numbers.append(int(el.text))
            except (TypeError, ValueError):
                raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
    if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
        raise S3Error(400, "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.")
    parts = [mp.parts.get(n) for n in numbers]
    if not numbers or any(p is None for p in parts):
        return  # moto answers MalformedXML / InvalidPart
    sizes = [p.contentsize for p in parts]
    if len(sizes) > 1:
        first = sizes[0]
        if any(s != first for s in sizes[:-1]) or sizes[-1] > first:
            raise S3Error(400, "InvalidPart", "All non-trailing parts must have the same length.")
        if first < args.min_part:
            raise S3Error(
                400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.",
                ProposedSize=first, MinSizeAllowed=args.min_part, PartNumber=numbers[0],
            )


def get_object_retention(bucket, key, version_id):
    """moto 5.2 has no GetObjectRetention (it answers 500): answered here."""
    b = BACKEND.buckets.get(bucket)
    if b is None:
        raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist", BucketName=bucket)
    if not b.object_lock_enabled:
        raise S3Error(400, "InvalidRequest", "Bucket is missing Object Lock Configuration")
    k = BACKEND.get_object(bucket, key, version_id=version_id)
    if k is None:
        raise S3Error(404, "NoSuchKey" if version_id is None else "NoSuchVersion", "The specified key does not exist.", Key=key)
    if not k.lock_mode or not k.lock_until:
        raise S3Error(404, "NoSuchObjectLockConfiguration", "The specified object does not have a ObjectLock configuration")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Mode>{escape(k.lock_mode)}</Mode><RetainUntilDate>{escape(k.lock_until)}</RetainUntilDate></Retention>"
    ).encode()
    return 200, [("Content-Type", "application/xml")], body


def take_cut(op):
    """The bytes after which this 2xx answer is cut (the "cut_answer" fault), or None."""
    rule = STATE.take(("cut_answer",), op)
    return rule["cut_after"] if rule else None


def endless_page(op, q):
    """An empty listing page that says more follow (the "endless" fault)."""
    if op not in ("ListObjectsV2", "ListParts", "ListMultipartUploads"):
        return None
    with STATE.lock:
        if STATE.endless <= 0:
            return None
        STATE.endless -= 1
        n = STATE.endless
    ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
    if op == "ListObjectsV2":
        inner = (f"<Prefix>{escape(q.get('prefix', ''))}</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>"
                 f"<IsTruncated>true</IsTruncated><NextContinuationToken>t{n}</NextContinuationToken>")
        root = "ListBucketResult"
    elif op == "ListParts":
        inner = (f"<MaxParts>1000</MaxParts><IsTruncated>true</IsTruncated>"
                 f"<NextPartNumberMarker>{1 + n % 9999}</NextPartNumberMarker>")
        root = "ListPartsResult"
    else:
        inner = (f"<IsTruncated>true</IsTruncated><NextKeyMarker>k{n}</NextKeyMarker>"
                 f"<NextUploadIdMarker>u{n}</NextUploadIdMarker>")
        root = "ListMultipartUploadsResult"
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} {ns}>{inner}</{root}>'.encode()


def initiated_times(body):
    """Puts each upload's start time in a ListMultipartUploads answer."""
    text = body.decode("utf-8")

    def fix(m):
        upload = m.group(0)
        uid = re.search(r"<UploadId>([^<]*)</UploadId>", upload)
        with STATE.lock:
            t = STATE.initiated.get(uid.group(1)) if uid else None
        if t is None:
            return upload
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))
        return re.sub(r"<Initiated>[^<]*</Initiated>", f"<Initiated>{stamp}</Initiated>", upload)

    return re.sub(r"<Upload>.*?</Upload>", fix, text, flags=re.S).encode("utf-8")


def lag_listparts(upload_id, body):
    """Drops the latest uploaded part from a ListParts answer, once armed."""
    with STATE.lock:
        latest = STATE.last_part.get(upload_id)
        if STATE.listparts_lag <= 0 or latest is None:
            return body
        STATE.listparts_lag -= 1
    text = body.decode("utf-8")
    text = re.sub(r"<Part>(?:(?!</Part>).)*?<PartNumber>%d</PartNumber>.*?</Part>" % latest, "", text, flags=re.S)
    return text.encode("utf-8")


# ---------------------------------------------------------------- bodies


class BodyReader(io.RawIOBase):
    """The request body: at most Content-Length bytes of the socket."""

    def __init__(self, rfile, length):
        self.rfile, self.remaining = rfile, length
        self.short = False

    def readable(self):
        return True

    def read(self, n=-1):
        if self.remaining <= 0:
            return b""
        n = self.remaining if n is None or n < 0 else min(n, self.remaining)
        data = self.rfile.read(n)
        if not data:
            self.short = True
            self.remaining = 0
            return b""
        self.remaining -= len(data)
        return data

    def readinto(self, b):
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def readline(self, limit=-1):
        if self.remaining <= 0:
            return b""
        n = self.remaining if limit is None or limit < 0 else min(limit, self.remaining)
        data = self.rfile.readline(n)
        self.remaining -= len(data)
        return data

    def drain(self):
        while self.read(CHUNK):
            pass


# ---------------------------------------------------------------- HTTP


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "NuageS3Test"
    # Headers and body go in separate writes: with Nagle's algorithm the
    # body waits for the client's delayed ACK (40 ms an answer).
    disable_nagle_algorithm = True

    def version_string(self):
        return self.server_version
    timeout = 120  # idle keep-alive connections are closed after this

    def log_message(self, fmt, *a):  # quiet
        pass

    def date_time_string(self, timestamp=None):
        return email.utils.formatdate(STATE.now() if timestamp is None else timestamp, usegmt=True)

    def do_GET(self):
        self.serve()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = do_GET

    # -- responses

    def respond(self, status, headers, body=b"", request_id=None):
        self.send_response(status)
        sent = set()
        for k, v in headers:
            lk = k.lower()
            if lk in ("date", "server", "connection", "transfer-encoding", "content-length"):
                continue
            self.send_header(k, v)
            sent.add(lk)
        if request_id and "x-amz-request-id" not in sent:
            self.send_header("x-amz-request-id", request_id)
        if self.close_connection:
            self.send_header("Connection", "close")
        if isinstance(body, (bytes, bytearray)):
            length = dict((k.lower(), v) for k, v in headers).get("content-length") if self.command == "HEAD" else None
            self.send_header("Content-Length", str(length if length is not None else len(body)))
            self.end_headers()
            cut = take_cut(getattr(self, "op", None)) if status < 300 else None
            if cut is not None:
                self.wfile.write(body[:cut])
                self.end_early()
                return
            if self.command != "HEAD" and body:
                self.wfile.write(body)
        else:
            raise TypeError("body must be bytes")

    def respond_error(self, err, resource, request_id):
        body = error_body(err.code, err.message, resource, request_id, err.extra)
        headers = [("Content-Type", "application/xml")]
        retry = getattr(err, "retry_after", None)
        if retry is not None:
            headers.append(("Retry-After", str(retry)))
        self.respond(err.status, headers, b"" if self.command == "HEAD" else body, request_id)

    def endless_body(self):
        """200 with a body of zeros that never ends, until the client goes."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(1 << 40))
        self.end_headers()
        zeros = bytes(1 << 16)
        try:
            while True:
                self.wfile.write(zeros)
        except OSError:
            self.close_connection = True

    def end_early(self):
        """Closes the connection after what was written arrives, short of
        the Content-Length said: the client sees the answer end early."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.close_connection = True

    def cut(self):
        """Resets the connection: no answer, the client sees ECONNRESET/EOF."""
        s = self.connection
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.rfile.close()
        s.close()
        self.close_connection = True

    # -- dispatch

    def serve(self):
        raw_path, raw_query = split_target(self.path)
        self.op = None
        if raw_path.startswith("/_nuage/"):
            return self.control(raw_path, raw_query)
        request_id = new_request_id()
        headers = list(self.headers.items())
        h = {}
        for k, v in headers:
            lk = k.lower()
            h[lk] = f"{h[lk]},{v}" if lk in h else v
        query_pairs = parse_query(raw_query)
        q = dict(query_pairs)
        bucket, key = locate(h.get("host"), raw_path)
        op = operation(self.command, bucket, key, q, h)
        self.op = op
        entry = {
            "time": time.time(),
            "method": self.command,
            "path": raw_path,
            "query": raw_query,
            "op": op,
            "bucket": bucket,
            "key": key,
            "content_length": int(h["content-length"]) if h.get("content-length", "").isdigit() else None,
            "status": None,
        }
        if "uploadId" in q:
            entry["upload_id"] = q["uploadId"]
        if "partNumber" in q:
            entry["part_number"] = int(q["partNumber"]) if q["partNumber"].isdigit() else q["partNumber"]
        with STATE.lock:
            STATE.log.append(entry)

        chunked = "chunked" in h.get("transfer-encoding", "").lower()
        if chunked:
            body = None
        else:
            body = BodyReader(self.rfile, entry["content_length"] or 0)
        resource = urllib.parse.unquote(raw_path)
        try:
            try:
                if chunked or (self.command in ("PUT", "POST") and "content-length" not in h):
                    self.close_connection = True
                    raise S3Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
                payload = verify_sigv4(self.command, raw_path, query_pairs, headers)
                entry["payload"] = "signed" if re.fullmatch(r"[0-9a-f]{64}", payload) else payload
                entry["content_md5"] = "content-md5" in h
                refuse_unsupported_headers(headers)
                if op in STATE.deny or (op in ("ListBuckets", "CreateBucket") and not args.admin):
                    raise S3Error(403, "AccessDenied", "Access Denied")
                rule = STATE.take(("slowdown", "status429", "status500"), op)
                if rule:
                    err = {
                        "slowdown": S3Error(503, "SlowDown", "Please reduce your request rate."),
                        "status429": S3Error(429, "TooManyRequests", "Reduce your concurrent request rate for the same object."),
                        "status500": S3Error(500, "InternalError", "We encountered an internal error. Please try again."),
                    }[rule["kind"]]
                    err.retry_after = rule.get("retry_after")
                    raise err
                endless = endless_page(op, q)
                if endless is not None:
                    entry["status"] = 200
                    self.respond(200, [("Content-Type", "application/xml")], endless, request_id)
                    return
                if body.remaining and STATE.rules:
                    rule = STATE.take(("cut",), op)
                    if rule:
                        self.read_exactly(body, rule["cut_after"])
                        entry["status"] = "cut"
                        self.cut()
                        return
                check_object_lock(op, bucket, h)
                wsgi_input = self.checked_body(body, payload, h.get("content-md5"), op)
                if op == "CompleteMultipartUpload":
                    check_complete(bucket, q.get("uploadId"), wsgi_input.read())
                    wsgi_input.seek(0)
            except S3Error as err:
                entry["status"], entry["error"] = err.status, err.code
                if body is not None:
                    body.drain()
                self.respond_error(err, resource, request_id)
                return
            if op == "GetObject":
                with STATE.lock:
                    ignore = "range" in h and STATE.ignore_range > 0
                    if ignore:
                        STATE.ignore_range -= 1
                    endless = STATE.endless_get > 0
                    if endless:
                        STATE.endless_get -= 1
                if ignore:
                    entry["range_ignored"] = h.pop("range")
                    headers = [(k, v) for k, v in headers if k.lower() != "range"]
                if endless:
                    entry["status"] = "endless"
                    self.endless_body()
                    return
            if op == "GetObjectRetention":
                try:
                    status, out_headers, out = get_object_retention(bucket, key, q.get("versionId"))
                except S3Error as err:
                    entry["status"], entry["error"] = err.status, err.code
                    self.respond_error(err, resource, request_id)
                    return
            elif op == "GetObject" and self.stream_get(raw_path, raw_query, headers, q, bucket, key, request_id, entry):
                if body is not None:
                    body.drain()
                entry["seconds"] = round(time.time() - entry["time"], 4)
                return
            else:
                forward_query = raw_query
                if q.get("versionId") == "null" and bucket in BACKEND.buckets and not BACKEND.buckets[bucket].is_versioned:
                    # S3 takes versionId=null for the one version of an object
                    # in an unversioned bucket; moto answers 400.
                    forward_query = "&".join(i for i in raw_query.split("&") if i != "versionId=null")
                # S3 takes any value of the `uploads` flag (rusty-s3 sends
                # uploads=1); moto only knows it bare or empty.
                forward_query = "&".join(
                    "uploads=" if i.startswith("uploads=") else i for i in forward_query.split("&")
                )
                try:
                    status, out_headers, out = self.call_moto(raw_path, forward_query, headers, wsgi_input)
                finally:
                    BODY_MD5.value = None
                # moto keeps these request headers as metadata and echoes them,
                # and says "x-amz-version-id: null" where S3 says nothing.
                out_headers = [
                    (k, v) for k, v in out_headers
                    if k.lower() not in ("x-amz-content-sha256", "content-md5", "status")
                    and not (k.lower() == "x-amz-version-id" and v == "null")
                ]
            if body is not None:
                body.drain()
            entry["status"] = status
            if status >= 400:
                m = re.search(rb"<Code>([^<]*)</Code>", out or b"")
                if m:
                    entry["error"] = m.group(1).decode()
            if status == 200 and op == "UploadPart":
                with STATE.lock:
                    STATE.last_part[q.get("uploadId")] = entry.get("part_number")
            if status == 200 and op == "ListParts":
                out = lag_listparts(q.get("uploadId"), out)
                out_headers = [(k, v) for k, v in out_headers if k.lower() != "content-length"]
            if status == 200 and STATE.kms and op in ("PutObject", "HeadObject"):
                # SSE-KMS: S3's ETag is then no MD5 of the object.
                out_headers = [
                    (k, '"' + hashlib.md5((v + "kms").encode()).hexdigest() + '"') if k.lower() == "etag" else (k, v)
                    for k, v in out_headers
                ] + [("x-amz-server-side-encryption", "aws:kms")]
            if status == 200 and op == "CreateMultipartUpload":
                m = re.search(rb"<UploadId>([^<]*)</UploadId>", out or b"")
                if m:
                    with STATE.lock:
                        STATE.initiated[m.group(1).decode()] = STATE.now()
            if status == 200 and op == "ListMultipartUploads":
                # moto answers a fixed 2010 date for every upload: the time
                # each was started instead (by this server's clock).
                out = initiated_times(out)
                out_headers = [(k, v) for k, v in out_headers if k.lower() != "content-length"]
            self.respond(status, out_headers, out, request_id)
            entry["seconds"] = round(time.time() - entry["time"], 4)
        except (ConnectionError, socket.timeout) as e:
            if entry["status"] is None:
                entry["status"] = f"dropped: {type(e).__name__}"
            self.close_connection = True
        except Exception as e:  # a bug here or in moto: say so, loudly
            traceback.print_exc()
            entry["status"], entry["error"] = 500, f"server bug: {e!r}"
            self.close_connection = True
            try:
                self.respond_error(S3Error(500, "InternalError", f"tests/s3/server.py: {e!r}"), resource, request_id)
            except OSError:
                pass

    def read_exactly(self, body, n):
        while n > 0:
            data = body.read(min(CHUNK, n))
            if not data:
                return
            n -= len(data)

    def checked_body(self, body, payload, content_md5, op):
        """The body for moto. Read and checked first when its SHA-256 is
        signed or it has a Content-MD5 (or must be parsed): in memory up to
        SPOOL_MEMORY, else in a temporary file. An unsigned body without
        Content-MD5 streams through unread."""
        want_sha = payload if re.fullmatch(r"[0-9a-f]{64}", payload or "") else None
        if payload not in ("UNSIGNED-PAYLOAD",) and want_sha is None:
            raise S3Error(400, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, or a valid sha256 value.")
        want_md5 = None
        if content_md5 is not None:
            try:
                want_md5 = base64.b64decode(content_md5, validate=True)
            except ValueError:
                want_md5 = b""
            if len(want_md5) != 16:
                raise S3Error(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
        if want_sha is None and want_md5 is None and op != "CompleteMultipartUpload":
            return body
        sha = hashlib.sha256() if want_sha else None
        md5 = hashlib.md5()  # for Content-MD5, and it is the ETag moto needs
        # Up to SPOOL_MEMORY in memory, as one bytes object that moto then
        # reads without a copy; bigger bodies go to a temporary file.
        chunks, spool = [], None
        while True:
            data = body.read(CHUNK)
            if not data:
                break
            if sha:
                sha.update(data)
            md5.update(data)
            if spool is None and body.remaining + sum(map(len, chunks)) + len(data) > SPOOL_MEMORY:
                spool = tempfile.TemporaryFile()
                for c in chunks:
                    spool.write(c)
                chunks = []
            if spool is None:
                chunks.append(data)
            else:
                spool.write(data)
        if body.short:
            raise ConnectionError("client closed the connection mid-body")
        if sha and sha.hexdigest() != want_sha:
            raise S3Error(
                400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ClientComputedContentSHA256=want_sha, S3ComputedContentSHA256=sha.hexdigest(),
            )
        if want_md5 is not None and md5.digest() != want_md5:
            raise S3Error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
        if spool is not None:
            spool.seek(0)
            return spool
        data = b"".join(chunks)
        BODY_MD5.value = (data, md5.hexdigest())
        return io.BytesIO(data)

    def stream_get(self, raw_path, raw_query, headers, q, bucket, key, request_id, entry):
        """GetObject of an object kept in a file: moto answers it as HEAD
        (headers, conditions, Range), the bytes go by sendfile(2) from the
        file. moto would read the whole object into memory for every GET,
        every ranged GET too. False: not done, ask moto."""
        b = BACKEND.buckets.get(bucket)
        if b is None or "partNumber" in q:
            return False
        version = q.get("versionId")
        if version == "null" and not b.is_versioned:
            version = None
        k = BACKEND.get_object(bucket, key, version_id=version)
        if k is None or k.contentsize <= STREAM_MIN or not getattr(k._value_buffer, "_rolled", False):
            return False
        etag = k.etag
        forward_query = "&".join(i for i in raw_query.split("&") if i != "versionId=null") if version is None else raw_query
        status, out_headers, _ = self.call_moto(raw_path, forward_query, headers, io.BytesIO(), method="HEAD")
        if status not in (200, 206):
            return False
        hd = {name.lower(): v for name, v in out_headers}
        if hd.get("etag") != etag:
            return False  # changed meanwhile
        start, end = 0, k.contentsize - 1
        if status == 206:
            m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", hd.get("content-range", ""))
            if not m or int(m.group(3)) != k.contentsize:
                return False
            start, end = int(m.group(1)), int(m.group(2))
        overrides = {h.lower(): (h, q[p]) for p, h in ALLOWED_HEADER_OVERRIDES.items() if p in q}
        out_headers = [
            (name, v) for name, v in out_headers
            if name.lower() not in ("x-amz-content-sha256", "content-md5", "status", "content-length")
            and name.lower() not in overrides
            and not (name.lower() == "x-amz-version-id" and v == "null")
        ] + list(overrides.values())
        # An fd of its own: its offset is not the one moto seeks and reads.
        fd = os.open(f"/proc/self/fd/{k._value_buffer.fileno()}", os.O_RDONLY)
        with os.fdopen(fd, "rb") as f:
            self.send_response(status)
            for name, v in out_headers:
                if name.lower() not in ("date", "server", "connection", "transfer-encoding"):
                    self.send_header(name, v)
            if "x-amz-request-id" not in hd:
                self.send_header("x-amz-request-id", request_id)
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            entry["status"] = status
            cut = take_cut("GetObject")
            if cut is not None:
                self.wfile.flush()
                self.connection.sendfile(f, start, min(cut, end - start + 1))
                entry["status"] = "cut"
                self.end_early()
                return True
            self.connection.sendfile(f, start, end - start + 1)
        return True

    def call_moto(self, raw_path, raw_query, headers, wsgi_input, method=None):
        environ = {
            "REQUEST_METHOD": method or self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": urllib.parse.unquote_to_bytes(raw_path).decode("latin-1"),
            "QUERY_STRING": raw_query,
            "RAW_URI": raw_path + ("?" + raw_query if raw_query else ""),
            "REQUEST_URI": raw_path + ("?" + raw_query if raw_query else ""),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": wsgi_input,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,  # the input is exactly the body
        }
        preserved = {}
        for name, value in headers:
            if "_" in name:
                if not name.lower().startswith("x-amz-meta-"):
                    continue  # like werkzeug: X_Foo could spoof X-Foo
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            if "_" in name:
                preserved.setdefault(key, name)
            environ[key] = f"{environ[key]},{value}" if key in environ and key.startswith("HTTP_") else value
        environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = preserved
        result = {}

        def start_response(status, response_headers, exc_info=None):
            result["status"] = int(status.split(None, 1)[0])
            result["headers"] = response_headers
            return lambda data: result.setdefault("written", []).append(data)

        app_iter = MOTO(environ, start_response)
        try:
            out = b"".join(result.pop("written", [])) + b"".join(app_iter)
        finally:
            if hasattr(app_iter, "close"):
                app_iter.close()
        return result["status"], list(result["headers"]), out

    # -- control API

    def control(self, raw_path, raw_query):
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        route = (self.command, raw_path.rstrip("/"))
        try:
            if route == ("POST", "/_nuage/faults"):
                result = self.set_faults(json.loads(data or b"{}"))
            elif route == ("GET", "/_nuage/faults"):
                result = STATE.describe()
            elif route == ("GET", "/_nuage/log"):
                with STATE.lock:
                    result = list(STATE.log)
            elif route == ("POST", "/_nuage/reset"):
                with STATE.lock:
                    STATE.reset()
                result = {"ok": True}
            elif route == ("GET", "/_nuage/uploads"):
                result = [
                    {"bucket": b.name, "key": mp.key_name, "upload_id": uid, "parts": sorted(mp.parts)}
                    for b in list(BACKEND.buckets.values())
                    for uid, mp in list(b.multiparts.items())
                ]
            elif route == ("GET", "/_nuage/objects"):
                result = [
                    {
                        "bucket": b.name, "key": k.name, "size": k.contentsize, "etag": k.etag.strip('"'),
                        "version_id": k.version_id, "lock_mode": k.lock_mode, "lock_until": k.lock_until,
                        "legal_hold": k.lock_legal_status,
                    }
                    for b in list(BACKEND.buckets.values())
                    for k in list(b.keys.values())
                    # The current version of each key; a delete marker
                    # (a versioned bucket's deleted key) holds no object.
                    if hasattr(k, "contentsize")
                ]
            else:
                self.send_json(404, {"error": f"no such control endpoint: {self.command} {raw_path}"})
                return
        except (ValueError, KeyError, TypeError) as e:
            self.send_json(400, {"error": str(e)})
            return
        self.send_json(200, result)

    def send_json(self, status, obj):
        self.respond(status, [("Content-Type", "application/json")], json.dumps(obj, default=str).encode())

    def set_faults(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("faults: a JSON object")
        known = {"slowdown", "status429", "status500", "cut_part", "cut_after", "listparts_lag", "skew",
                 "endless", "kms", "cut_answer", "ignore_range", "endless_get", "deny", "corrupt", "offset", "ops", "retry_after", "after"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        ops = spec.get("ops")
        if ops is not None and not (isinstance(ops, list) and all(isinstance(o, str) for o in ops)):
            raise ValueError("ops: a list of operation names")
        result = {}
        if "corrupt" in spec:
            result["corrupted"] = corrupt(spec["corrupt"], spec.get("offset"))
        with STATE.lock:
            # The counted faults: one rule each, every rule with the same
            # options (a kind reads those it needs).
            for key, kind in (("slowdown", "slowdown"), ("status429", "status429"),
                              ("status500", "status500"), ("cut_part", "cut"),
                              ("cut_answer", "cut_answer")):
                if spec.get(key):
                    STATE.rules.append({"kind": kind, "remaining": int(spec[key]), "ops": ops,
                                        "retry_after": spec.get("retry_after"),
                                        "cut_after": int(spec.get("cut_after", 0)),
                                        "after": int(spec.get("after", 0))})
            if "listparts_lag" in spec:
                STATE.listparts_lag = int(spec["listparts_lag"])
            if "skew" in spec:
                STATE.skew = float(spec["skew"])
            if "endless" in spec:
                STATE.endless = int(spec["endless"])
            if "kms" in spec:
                STATE.kms = bool(spec["kms"])
            if "ignore_range" in spec:
                STATE.ignore_range = int(spec["ignore_range"])
            if "endless_get" in spec:
                STATE.endless_get = int(spec["endless_get"])
            if "deny" in spec:
                STATE.deny = set(spec["deny"])
        result.update(STATE.describe())
        return result


def corrupt(target, offset=None):
    bucket, _, key = target.partition("/")
    b = BACKEND.buckets.get(bucket)
    k = b.keys.get(key) if b is not None else None
    if k is None:
        raise KeyError(f"no such object: {target}")
    etag = k.etag  # computed (and kept) before the byte changes
    if k.contentsize == 0:
        raise ValueError("cannot corrupt an empty object")
    pos = k.contentsize // 2 if offset is None else int(offset)
    if not 0 <= pos < k.contentsize:
        raise ValueError(f"offset {pos} outside 0..{k.contentsize - 1}")
    with k.lock:
        buf = k._value_buffer
        buf.seek(pos)
        byte = buf.read(1)
        buf.seek(pos)
        buf.write(bytes([byte[0] ^ 0xFF]))
        buf.flush()
    return {"bucket": bucket, "key": key, "offset": pos, "etag": etag.strip('"')}


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, OSError)):
            return
        traceback.print_exc()


def create_buckets():
    client = Client(MOTO)  # straight to moto, past the gate
    config = b""
    if args.region not in ("us-east-1", "auto"):
        config = (
            '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<LocationConstraint>{args.region}</LocationConstraint></CreateBucketConfiguration>"
        ).encode()
    for name, lock in [(n, False) for n in args.bucket] + [(n, True) for n in args.lock_bucket]:
        headers = {"Host": "localhost"}
        if lock:
            headers["x-amz-bucket-object-lock-enabled"] = "true"
        r = client.put(f"/{name}", headers=headers, data=config)
        if r.status_code != 200:
            sys.exit(f"s3 server: could not create bucket {name}: {r.status_code} {r.get_data(as_text=True)}")


create_buckets()
server = Server(("127.0.0.1", args.port), Handler)
threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
print(f"port {server.server_address[1]}", flush=True)

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())


def watch_stdin():
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    stop.set()


threading.Thread(target=watch_stdin, daemon=True).start()
while not stop.wait(0.5):
    pass
server.shutdown()
server.server_close()
sys.stdout.flush()
os._exit(0)
