"""Checks tests/s3/server.py with real clients: boto3 from its venv and
Debian's rclone. Run with the venv's Python:

  ~/.cache/nuage/s3-venv/bin/python tests/s3/selftest.py [--bench-mb N]

--bench-mb N also times `rclone copyto` of an N MB file and reports the
server's peak RSS. Ends with "N passed, N failed"; leaves nothing running.
"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
import botocore
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

ap = argparse.ArgumentParser()
ap.add_argument("--bench-mb", type=int, default=0)
ap.add_argument("--rclone-mb", type=int, default=200)
opts = ap.parse_args()

HERE = os.path.dirname(os.path.abspath(__file__))
AK, SK = "NUAGETESTAK", "nuage-test-secret"
MiB = 1024 * 1024
passed, failed = 0, 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def start(*extra):
    p = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "server.py"), "--port", "0", "--access-key", AK, "--secret", SK,
         "--bucket", "plain", "--lock-bucket", "locked", *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    line = p.stdout.readline()
    assert line.startswith("port "), line
    return p, int(line.split()[1])


def control(port, method, path, obj=None):
    data = json.dumps(obj).encode() if obj is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}/_nuage/{path}", data=data, method=method)
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def client(port, secret=SK, checksums="when_required", style="path", key=AK):
    return boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret,
        config=Config(
            request_checksum_calculation=checksums, response_checksum_validation=checksums,
            signature_version="s3v4", s3={"addressing_style": style}, retries={"total_max_attempts": 1, "mode": "standard"},
        ),
    )


def code_of(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


class Unsigned(S3SigV4Auth):
    def _should_sha256_sign_payload(self, request):
        return False


class Streaming(S3SigV4Auth):
    def payload(self, request):
        return "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def raw(port, method, url, body=b"", headers=None, send_body=None, auth=S3SigV4Auth, host=None):
    """Signs with botocore for url (its Host), sends to 127.0.0.1:port."""
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    prepared = req.prepare()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    path = prepared.url.split("/", 3)[3] if prepared.url.count("/") >= 3 else ""
    headers = dict(prepared.headers.items())
    headers["Host"] = url.split("/")[2]
    conn.request(method, "/" + path, body=send_body if send_body is not None else body, headers=headers)
    r = conn.getresponse()
    out = r.status, r.read()
    conn.close()
    return out


def boto_tests(port):
    s3 = client(port)
    # Basics, with awkward key characters (canonical URI and query).
    key = "dir one/a b+c%d~é&=.txt"
    data = os.urandom(100_000)
    r = s3.put_object(Bucket="plain", Key=key, Body=data)
    check("put_object", r["ETag"] == f'"{hashlib.md5(data).hexdigest()}"', r["ETag"])
    check("get_object", s3.get_object(Bucket="plain", Key=key)["Body"].read() == data)
    check("range get", s3.get_object(Bucket="plain", Key=key, Range="bytes=10-19")["Body"].read() == data[10:20])
    check("head_object", s3.head_object(Bucket="plain", Key=key)["ContentLength"] == len(data))
    lst = s3.list_objects_v2(Bucket="plain", Prefix="dir one/a b+")
    check("list_objects_v2 with prefix", [o["Key"] for o in lst.get("Contents", [])] == [key], lst.get("Contents"))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "plain", "Key": key}, ExpiresIn=60)
    with urllib.request.urlopen(url) as resp:
        check("presigned GET", resp.read() == data)
    v2 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", aws_access_key_id=AK,
                      aws_secret_access_key=SK, config=Config(signature_version="s3", s3={"addressing_style": "path"}))
    try:
        urllib.request.urlopen(v2.generate_presigned_url("get_object", Params={"Bucket": "plain", "Key": key}))
        check("SigV2 presigned URL refused", False)
    except urllib.error.HTTPError as e:
        check("SigV2 presigned URL refused", e.code == 400 and b"AWS4-HMAC-SHA256" in e.read())
    s3.delete_object(Bucket="plain", Key=key)
    check("delete_object", s3.list_objects_v2(Bucket="plain").get("KeyCount") == 0)

    # Objects over 1 MiB are sent from their file (the gate, not moto).
    big = os.urandom(3 * MiB + 17)
    etag = s3.put_object(Bucket="plain", Key="big", Body=big)["ETag"]
    check("big GET", s3.get_object(Bucket="plain", Key="big")["Body"].read() == big)
    r = s3.get_object(Bucket="plain", Key="big", Range="bytes=1048570-1048600")
    check("big ranged GET", r["Body"].read() == big[1048570:1048601] and r["ContentRange"] == f"bytes 1048570-1048600/{len(big)}", r.get("ContentRange"))
    check("big suffix range", s3.get_object(Bucket="plain", Key="big", Range="bytes=-10")["Body"].read() == big[-10:])
    check("big If-None-Match: 304", code_of(lambda: s3.get_object(Bucket="plain", Key="big", IfNoneMatch=etag)) == "304")
    check("big If-Match mismatch: 412", code_of(lambda: s3.get_object(Bucket="plain", Key="big", IfMatch='"0"')) in ("412", "PreconditionFailed"))
    check("big response-content-type", s3.get_object(Bucket="plain", Key="big", ResponseContentType="text/x-nuage")["ContentType"] == "text/x-nuage")
    check("big range past the end: InvalidRange", code_of(lambda: s3.get_object(Bucket="plain", Key="big", Range=f"bytes={len(big)}-")) == "InvalidRange")

    # Credentials, scope.
    check("wrong secret: SignatureDoesNotMatch", code_of(lambda: client(port, secret="nope").list_objects_v2(Bucket="plain")) == "SignatureDoesNotMatch")
    check("wrong key: InvalidAccessKeyId", code_of(lambda: client(port, key="OTHER").list_objects_v2(Bucket="plain")) == "InvalidAccessKeyId")
    check("ListBuckets refused", code_of(lambda: s3.list_buckets()) == "AccessDenied")
    check("CreateBucket refused", code_of(lambda: s3.create_bucket(Bucket="another")) == "AccessDenied")
    status, body = raw(port, "GET", f"http://127.0.0.1:{port}/plain", auth=lambda *a: type("N", (), {"add_auth": lambda self, r: None})())
    check("anonymous refused", status == 403 and b"AccessDenied" in body, body)

    # Checksums: the 2025 SDK default is refused, as R2 did.
    code = code_of(lambda: client(port, checksums="when_supported").put_object(Bucket="plain", Key="c", Body=b"x"))
    check("default SDK checksum headers refused (NotImplemented)", code == "NotImplemented", code)
    check("bad Content-MD5: BadDigest", code_of(lambda: s3.put_object(Bucket="plain", Key="m", Body=b"abc", ContentMD5=base64.b64encode(hashlib.md5(b"abd").digest()).decode())) == "BadDigest")
    r = s3.put_object(Bucket="plain", Key="m", Body=b"abc", ContentMD5=base64.b64encode(hashlib.md5(b"abc").digest()).decode())
    check("good Content-MD5 accepted", r["ResponseMetadata"]["HTTPStatusCode"] == 200)
    status, body = raw(port, "PUT", f"http://127.0.0.1:{port}/plain/sha", body=b"signed body", send_body=b"other body!")
    check("payload hash mismatch: XAmzContentSHA256Mismatch", status == 400 and b"XAmzContentSHA256Mismatch" in body, body)
    status, body = raw(port, "PUT", f"http://127.0.0.1:{port}/plain/unsigned", body=b"unsigned body", auth=Unsigned)
    check("UNSIGNED-PAYLOAD accepted", status == 200, body)
    status, body = raw(port, "PUT", f"http://127.0.0.1:{port}/plain/stream", body=b"x", auth=Streaming)
    check("STREAMING payload refused", status == 400 and b"NotImplemented" in body, body)
    status, body = raw(port, "PUT", f"http://plain.localhost:{port}/vhost-key", body=b"vhost")
    check("virtual-host style PUT", status == 200, body)
    check("virtual-host object landed", s3.get_object(Bucket="plain", Key="vhost-key")["Body"].read() == b"vhost")

    # Clock skew, and expiry of presigned URLs through it.
    control(port, "POST", "faults", {"skew": 3600})
    check("skew: RequestTimeTooSkewed", code_of(lambda: s3.list_objects_v2(Bucket="plain")) == "RequestTimeTooSkewed")
    try:
        urllib.request.urlopen(url)
        check("expired presigned URL refused", False)
    except urllib.error.HTTPError as e:
        check("expired presigned URL refused", e.code == 403 and b"Request has expired" in e.read())
    control(port, "POST", "faults", {"skew": 0})

    # Multipart: R2's equal-size rule and the 5 MiB minimum.
    def multipart(key, sizes, complete=True):
        up = s3.create_multipart_upload(Bucket="plain", Key=key)["UploadId"]
        parts, blob = [], b""
        for i, size in enumerate(sizes, 1):
            chunk = os.urandom(size)
            blob += chunk
            parts.append({"PartNumber": i, "ETag": s3.upload_part(Bucket="plain", Key=key, UploadId=up, PartNumber=i, Body=chunk)["ETag"]})
        if not complete:
            return up, parts, blob
        try:
            r = s3.complete_multipart_upload(Bucket="plain", Key=key, UploadId=up, MultipartUpload={"Parts": parts})
            return None, r["ETag"], blob, parts
        except botocore.exceptions.ClientError as e:
            s3.abort_multipart_upload(Bucket="plain", Key=key, UploadId=up)
            return e.response["Error"]["Code"], None, blob, parts

    err, etag, blob, parts = multipart("mp-equal", [5 * MiB, 5 * MiB, 1 * MiB])
    want = hashlib.md5(b"".join(bytes.fromhex(p["ETag"].strip('"')) for p in parts)).hexdigest() + "-3"
    check("multipart equal parts accepted", err is None, err)
    check("multipart ETag is md5-of-md5s-N", etag == f'"{want}"', (etag, want))
    check("multipart object content", s3.get_object(Bucket="plain", Key="mp-equal")["Body"].read() == blob)
    check("multipart unequal parts: InvalidPart", multipart("mp-unequal", [5 * MiB, 6 * MiB, 1 * MiB])[0] == "InvalidPart")
    check("multipart larger last part: InvalidPart", multipart("mp-lastbig", [5 * MiB, 5 * MiB, 6 * MiB])[0] == "InvalidPart")
    check("multipart small parts: EntityTooSmall", multipart("mp-small", [MiB, MiB, 10])[0] == "EntityTooSmall")
    check("aborted uploads are gone", control(port, "GET", "uploads") == [])

    # listparts_lag, uploads listing, cut_part.
    up, parts, _ = multipart("mp-lag", [MiB, MiB], complete=False)
    check("uploads lists the open upload", [u["upload_id"] for u in control(port, "GET", "uploads")] == [up])
    control(port, "POST", "faults", {"listparts_lag": 1})
    seen = [p["PartNumber"] for p in s3.list_parts(Bucket="plain", Key="mp-lag", UploadId=up).get("Parts", [])]
    check("listparts_lag hides the latest part", seen == [1], seen)
    seen = [p["PartNumber"] for p in s3.list_parts(Bucket="plain", Key="mp-lag", UploadId=up).get("Parts", [])]
    check("listparts_lag used up", seen == [1, 2], seen)
    control(port, "POST", "faults", {"cut_part": 1, "cut_after": 512 * 1024})
    try:
        s3.upload_part(Bucket="plain", Key="mp-lag", UploadId=up, PartNumber=3, Body=os.urandom(2 * MiB))
        check("cut_part drops the connection", False, "upload_part succeeded")
    except (botocore.exceptions.ConnectionClosedError, botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectionError) as e:
        check("cut_part drops the connection", True)
        print(f"     (client saw {type(e).__name__}: {str(e)[:100]})")
    cut = [e for e in control(port, "GET", "log") if e["status"] == "cut"]
    check("log shows the cut part", len(cut) == 1 and cut[0]["part_number"] == 3, cut)
    r = s3.upload_part(Bucket="plain", Key="mp-lag", UploadId=up, PartNumber=3, Body=b"again")
    check("next UploadPart goes through", r["ResponseMetadata"]["HTTPStatusCode"] == 200)
    s3.abort_multipart_upload(Bucket="plain", Key="mp-lag", UploadId=up)

    # Status faults, deny, scoped by operation.
    control(port, "POST", "faults", {"slowdown": 1, "retry_after": 1})
    check("slowdown: 503 SlowDown", code_of(lambda: s3.list_objects_v2(Bucket="plain")) == "SlowDown")
    control(port, "POST", "faults", {"status429": 1})
    try:
        s3.list_objects_v2(Bucket="plain")
        check("status429", False)
    except botocore.exceptions.ClientError as e:
        check("status429", e.response["ResponseMetadata"]["HTTPStatusCode"] == 429)
    control(port, "POST", "faults", {"status500": 1, "ops": ["HeadObject"]})
    check("status500 scoped to HeadObject skips others", code_of(lambda: s3.list_objects_v2(Bucket="plain")) is None)
    check("status500 on HeadObject", code_of(lambda: s3.head_object(Bucket="plain", Key="m")) == "500")
    control(port, "POST", "faults", {"deny": ["DeleteObject"]})
    check("deny DeleteObject", code_of(lambda: s3.delete_object(Bucket="plain", Key="m")) == "AccessDenied")
    control(port, "POST", "faults", {"deny": []})

    # Bit rot.
    data = os.urandom(3 * MiB)
    etag = s3.put_object(Bucket="plain", Key="rot", Body=data)["ETag"]
    control(port, "POST", "faults", {"corrupt": "plain/rot"})
    r = s3.get_object(Bucket="plain", Key="rot")
    got = r["Body"].read()
    check("corrupt: same ETag, different bytes", r["ETag"] == etag and got != data and len(got) == len(data)
          and sum(a != b for a, b in zip(got, data)) == 1)

    # Object Lock.
    until = "2099-01-01T00:00:00Z"
    md5 = base64.b64encode(hashlib.md5(b"keep").digest()).decode()
    code = code_of(lambda: s3.put_object(Bucket="plain", Key="l", Body=b"keep", ContentMD5=md5, ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until))
    check("lock headers on an unlocked bucket: InvalidRequest", code == "InvalidRequest", code)
    code = code_of(lambda: s3.create_multipart_upload(Bucket="plain", Key="l", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until))
    check("lock headers on unlocked CreateMultipartUpload: InvalidRequest", code == "InvalidRequest", code)
    code = code_of(lambda: s3.get_object_lock_configuration(Bucket="plain"))
    check("GetObjectLockConfiguration unlocked: ObjectLockConfigurationNotFoundError", code == "ObjectLockConfigurationNotFoundError", code)
    r = s3.put_object(Bucket="locked", Key="l", Body=b"keep", ContentMD5=md5, ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    check("lock bucket accepts retention", r["ResponseMetadata"]["HTTPStatusCode"] == 200)
    ret = s3.get_object_retention(Bucket="locked", Key="l")["Retention"]
    check("GetObjectRetention", ret["Mode"] == "COMPLIANCE" and ret["RetainUntilDate"].year == 2099, ret)
    head = s3.head_object(Bucket="locked", Key="l")
    check("HeadObject reports the lock", head.get("ObjectLockMode") == "COMPLIANCE", head)
    check("GetObjectLockConfiguration locked", s3.get_object_lock_configuration(Bucket="locked")["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled")
    vid = head["VersionId"]
    code = code_of(lambda: s3.delete_object(Bucket="locked", Key="l", VersionId=vid))
    check("locked version cannot be deleted", code == "AccessDenied", code)

    log = control(port, "GET", "log")
    check("log records operations", {"PutObject", "UploadPart", "CompleteMultipartUpload", "ListParts"} <= {e["op"] for e in log})
    control(port, "POST", "reset")
    check("reset clears the log", control(port, "GET", "log") == [])


def rclone_env(port):
    # rclone 1.60 fails on any AWS_CA_BUNDLE ("LoadCustomCABundleError")
    # and the link is plain HTTP anyway.
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE" and not k.startswith("RCLONE_")}
    env.update({
        "RCLONE_CONFIG_S3_TYPE": "s3", "RCLONE_CONFIG_S3_PROVIDER": "Other",
        "RCLONE_CONFIG_S3_ENDPOINT": f"http://127.0.0.1:{port}",
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID": AK, "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": SK,
        "RCLONE_CONFIG_S3_FORCE_PATH_STYLE": "true", "RCLONE_CONFIG_S3_REGION": "us-east-1",
        "RCLONE_CONFIG": os.path.join(tempfile.gettempdir(), "nuage-s3-selftest-no-rclone.conf"),
    })
    return env


RCLONE_FLAGS = ["--s3-no-check-bucket"]


def rclone_tests(port, tmp):
    env = rclone_env(port)
    src = os.path.join(tmp, "src.bin")
    with open(src, "wb") as f:
        for _ in range(opts.rclone_mb):
            f.write(os.urandom(MiB))
    control(port, "POST", "reset")
    t = time.time()
    r = subprocess.run(["rclone", "copyto", *RCLONE_FLAGS, src, "s3:plain/rclone/big.bin"], env=env, capture_output=True, text=True)
    dt = time.time() - t
    check(f"rclone copyto {opts.rclone_mb} MB", r.returncode == 0, r.stderr[-2000:])
    print(f"     ({opts.rclone_mb / dt:.0f} MB/s)")
    log = control(port, "GET", "log")
    parts = [e for e in log if e["op"] == "UploadPart"]
    if opts.rclone_mb >= 200:  # rclone's --s3-upload-cutoff
        check("rclone used multipart with equal parts", len(parts) > 1 and len({e["content_length"] for e in parts[:-1]}) == 1,
              {e["content_length"] for e in parts})
    bad = [e for e in log if e["status"] not in (200, 204) and not (e["op"] == "HeadObject" and e["status"] == 404)]
    check("rclone got no refusal", not bad, bad)
    print(f"     (rclone ops: {sorted({e['op'] for e in log})})")
    out = os.path.join(tmp, "back.bin")
    r = subprocess.run(["rclone", "copyto", *RCLONE_FLAGS, "s3:plain/rclone/big.bin", out], env=env, capture_output=True, text=True)
    same = r.returncode == 0 and filecmp(src, out)
    check("rclone copyto back, same bytes", same, r.stderr[-2000:])
    r = subprocess.run(["rclone", "lsf", "s3:plain/rclone"], env=env, capture_output=True, text=True)
    check("rclone lsf", r.stdout.split() == ["big.bin"], r.stdout + r.stderr)
    r = subprocess.run(["rclone", "deletefile", "s3:plain/rclone/big.bin"], env=env, capture_output=True, text=True)
    check("rclone deletefile", r.returncode == 0, r.stderr)
    r = subprocess.run(["rclone", "lsd", "s3:"], env=env, capture_output=True, text=True)
    check("rclone lsd s3: (ListBuckets) refused", r.returncode != 0)
    if os.path.exists(out):
        os.unlink(out)


def filecmp(a, b):
    ha, hb = hashlib.sha256(), hashlib.sha256()
    for path, h in ((a, ha), (b, hb)):
        with open(path, "rb") as f:
            while chunk := f.read(MiB):
                h.update(chunk)
    return ha.digest() == hb.digest()


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return None


def bench(tmp):
    p, port = start()
    try:
        env = rclone_env(port)
        src = os.path.join(tmp, "bench.bin")
        with open(src, "wb") as f:
            for _ in range(opts.bench_mb):
                f.write(os.urandom(MiB))
        base = peak_rss_mb(p.pid)
        t = time.time()
        r = subprocess.run(["rclone", "copyto", *RCLONE_FLAGS, src, "s3:plain/bench.bin"], env=env, capture_output=True, text=True)
        dt = time.time() - t
        check(f"bench: rclone copyto {opts.bench_mb} MB", r.returncode == 0, r.stderr[-2000:])
        print(f"     bench: {opts.bench_mb} MB in {dt:.1f} s = {opts.bench_mb / dt:.0f} MB/s; "
              f"server peak RSS {peak_rss_mb(p.pid)} MB (idle {base} MB)")
        os.unlink(src)
    finally:
        p.stdin.close()
        p.wait(timeout=20)


def main():
    tmp = tempfile.mkdtemp(prefix="nuage-s3-selftest-")
    try:
        tests(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def tests(tmp):
    p, port = start()
    try:
        boto_tests(port)
        if shutil.which("rclone"):
            rclone_tests(port, tmp)
        else:
            print("rclone missing: its checks skipped")
    finally:
        p.stdin.close()  # the server stops when its stdin closes
        p.wait(timeout=20)
    check("server stopped when stdin closed", p.returncode == 0, p.returncode)
    p, port = start("--admin", "--region", "eu-west-3")
    try:
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="eu-west-3", aws_access_key_id=AK,
                          aws_secret_access_key=SK, config=Config(request_checksum_calculation="when_required",
                                                                  response_checksum_validation="when_required",
                                                                  s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket="made-by-test", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
        names = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
        check("--admin: CreateBucket and ListBuckets", names == ["locked", "made-by-test", "plain"], names)
        check("--region: bucket location", s3.get_bucket_location(Bucket="plain")["LocationConstraint"] == "eu-west-3")
        control(port, "POST", "reset")
        client(port).list_objects_v2(Bucket="plain")  # signs for us-east-1; botocore then follows <Region>
        errors = [e.get("error") for e in control(port, "GET", "log")]
        check("wrong signing region: AuthorizationHeaderMalformed", errors[0] == "AuthorizationHeaderMalformed", errors)
    finally:
        p.terminate()
        p.wait(timeout=20)
    check("server stopped on SIGTERM", p.returncode == 0, p.returncode)
    if opts.bench_mb:
        bench(tmp)


main()
