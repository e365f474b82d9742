import json, sys
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
BODY = {"version": "1.4.0", "git_sha": "x", "config": {"DATABASE_URL": "postgres://app:UnkPw_9876@db/x", "api_key": "AKIAUNKNOWN12345", "note": "see ?token=QWERTY12345&x=1", "auth": "Bearer abcdefgh12345678", "dsn2": "host=db password=KvPw_4321 user=a", "plain": "LeakPlain_7777"}, "price": 1.5}
class H(BaseHTTPRequestHandler):
    protocol_version="HTTP/1.1"
    def log_message(self,*a): pass
    def do_GET(self):
        b = json.dumps(BODY).encode()
        self.send_response(200); self.send_header("Content-Type","application/json")
        self.send_header("Set-Cookie","session=CookieSecret123; HttpOnly")
        self.send_header("X-Debug","password=HdrSecret55 token=HdrTok_8888")
        self.send_header("Location","https://u:LocPw_2222@x.example/")
        self.send_header("Content-Length",str(len(b))); self.end_headers(); self.wfile.write(b)
    do_POST=do_GET
ThreadingHTTPServer(("127.0.0.1",18140),H).serve_forever()
