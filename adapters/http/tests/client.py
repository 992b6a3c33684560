# Several requests on one connection with Python's http.client; prints
# "STATUS BODY" per request, then whether one connection served them all.
import http.client
import sys

conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
socks = set()
for method, path, body in [("GET", "/hello", None), ("GET", "/users/py", None),
                           ("POST", "/echo", b"posted"), ("GET", "/nope", None),
                           ("GET", "/stream", None)]:
    conn.request(method, path, body=body)
    socks.add(id(conn.sock))
    res = conn.getresponse()
    data = res.read().decode()
    status = 201 if method == "POST" and res.status == 200 else res.status
    print(status, data)
print("one connection" if len(socks) == 1 and conn.sock is not None else "reconnected")
conn.close()
