#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (test/fuzz/corpus/<target>/) from the regression tests'
inputs: the JSON literals of test/sql/*.sql (pushes, audiences, triggers, subscriptions,
configurations), the template texts, the account packages (and their base64 zips), and vendors'
answers in the shapes test/mock_vendor gives. Run again when the tests gain inputs:

    python3 test/fuzz/seeds.py
"""
import base64, glob, hashlib, io, json, os, re, zipfile

here = os.path.dirname(os.path.abspath(__file__))
top = os.path.dirname(os.path.dirname(here))
corpus = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    corpus.setdefault(target, set()).add(data)


def literals(sql):
    """single-quoted literals ('' escaped) and dollar-quoted ones"""
    for m in re.finditer(r"\$(\w*)\$(.*?)\$\1\$", sql, re.S):
        yield m.group(2)
    for m in re.finditer(r"(?<![\w$])[eE]?'((?:[^']|'')*)'", sql):
        yield m.group(1).replace("''", "'")


def walk(v, key=None):
    yield key, v
    if isinstance(v, dict):
        for k, x in v.items():
            yield from walk(x, k)
    elif isinstance(v, list):
        for x in v:
            yield from walk(x, key)


for path in sorted(glob.glob(os.path.join(top, "test/sql/*.sql"))):
    name = os.path.basename(path)[:-4]
    sql = open(path, encoding="utf-8").read()
    for lit in literals(sql):
        if "{{" in lit and len(lit) < 4000:
            add("template", lit)
        s = lit.strip()
        if not s or s[0] not in "{[":
            if name == "webpush" and len(s) < 300:
                add("webpush", s)
            continue
        try:
            v = json.loads(s)
        except ValueError:
            continue
        text = json.dumps(v, ensure_ascii=False)
        if name.startswith("audience"):
            add("audience", text)
        if name == "schedules" or name == "flows":
            add("trigger", text)
        if name == "webpush":
            add("webpush", text)
        # event batches (push_track_batch), and single events (a batch of one)
        if isinstance(v, list) and v and all(isinstance(x, dict) and "event" in x for x in v):
            add("track", text)
        if isinstance(v, dict) and "event" in v and ("registration_id" in v or "account" in v):
            add("track", json.dumps([v], ensure_ascii=False))
        if isinstance(v, dict) and len(text) < 20000:
            if any(k in v for k in ("notification", "message", "to", "audience", "from",
                                    "audience_type", "MsgBody", "variants", "body")):
                add("push", text)
                add("payload", text)
        for key, x in walk(v):
            if key in ("to", "audience", "Condition") and x is not None:
                add("audience", json.dumps(x, ensure_ascii=False))
            if key == "trigger" and x is not None:
                add("trigger", json.dumps(x, ensure_ascii=False))
            if key in ("alert", "title") and isinstance(x, str) and "{{" in x:
                add("template", x + "\n---\n" + '{"name": "Ann", "city": "杭州", "n": 3}')
    if name == "packages":
        for m in re.finditer(r"\\set (zip_\w+) '([A-Za-z0-9+/=]+)'", sql):
            add("package", b"accounts.zip\n" + base64.b64decode(m.group(2)))
        for m in re.finditer(r"'([\w.]+\.(?:txt|csv|TXT|CSV))',\s*convert_to\(E?'((?:[^']|'')*)'", sql):
            body = m.group(2).replace("''", "'").encode().decode("unicode_escape").encode("latin-1")
            add("package", m.group(1).encode() + b"\n" + body)

# account packages the tests build by other means: a nested zip, a bomb, path traversal
def zipped(files, method=zipfile.ZIP_DEFLATED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as z:
        for n, d in files:
            z.writestr(n, d)
    return b.getvalue()

add("package", b"a.zip\n" + zipped([("inner.zip", zipped([("a.txt", "u1\nu2\n")]))]))
add("package", b"bomb.zip\n" + zipped([("a.txt", "0" * 2000000)]))
add("package", b"evil.zip\n" + zipped([("../../etc/passwd.txt", "root\n")]))
add("package", b"s.zip\n" + zipped([("a.csv", "\"x,y\",z\n\"q\"\"r\"\n")], zipfile.ZIP_STORED))
add("package", b"users.csv\n\xef\xbb\xbfuser1,user2\r\n\"user,3\"\r\n")
add("package", b"users.txt\nalice\nbob\n\n  carol  \n")

# vendors' answers: the status byte (index into fuzz_answer.c's statuses), then the body
answers = [
    (0, '{"name":"projects/p/messages/0:1%00000001"}'),
    (0, '{"code":"80000000","msg":"Success","requestId":"1"}'),
    (0, '{"code":"80100000","msg":"{\\"success\\":1,\\"failure\\":1,\\"illegal_tokens\\":[\\"tok-b\\"]}","requestId":"2"}'),
    (0, '{"result":"ok","data":{"id":"m1"},"code":0}'),
    (0, '{"code":0,"message":"Success","data":{"messageId":"1"}}'),
    (0, '{"result":0,"desc":"ok","taskId":"t1","invalidUsers":[{"userid":"tok-a","status":1}]}'),
    (0, '{"code":"200","message":"","value":{"noValidUser":["tok-c"]}}'),
    (0, '{"access_token":"abc","expires_in":3600,"token_type":"Bearer"}'),
    (0, '{"auth_token":"x","create_time":1}'),
    (0, '{"code":0,"data":{"auth_token":"t","create_time":1700000000000}}'),
    (0, '{"sendResult":true,"requestId":"1","failTokens":["tok-a"],"expireTokens":[]}'),
    (3, '{"reason":"BadDeviceToken"}'),
    (4, '{"error":{"code":401,"message":"expired","status":"UNAUTHENTICATED"}}'),
    (7, '{"reason":"Unregistered","timestamp":1700000000000}'),
    (9, '{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"QUOTA_EXCEEDED"}]}}'),
    (10, '{"code":"500","message":"其他异常","value":{}}'),
    (6, '{"error":"invalid_client","error_description":"unknown client or wrong secret"}'),
    (12, ''),
]
for status, body in answers:
    add("answer", bytes([status]) + body.encode())

for target, items in sorted(corpus.items()):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for f in glob.glob(os.path.join(d, "seed-*")):
        os.remove(f)
    for data in sorted(items):
        with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
            f.write(data)
    print(f"{target}: {len(items)} seeds")
