import sys, json
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
PORT=int(sys.argv[1]); N=int(sys.argv[2])
RULES={"status":"success","data":{"groups":[{"name":"g","file":"f","rules":[{"type":"alerting","name":"SLOAvailabilityBurn","query":"vector(1)","duration":0,"labels":{"slo":"availability","team":"{{"*N},"annotations":{},"alerts":[],"health":"ok"}]}]}}
SIL=[{"id":"s1","status":{"state":"active"},"matchers":[{"name":"team","value":"ops","isRegex":False,"isEqual":True}],"createdBy":"x","endsAt":"2099-01-01T00:00:00Z","startsAt":"2020-01-01T00:00:00Z","comment":"c","updatedAt":"2020-01-01T00:00:00Z"}]
class H(BaseHTTPRequestHandler):
    protocol_version="HTTP/1.1"
    def log_message(self,*a): pass
    def do_GET(self):
        if "/api/v1/rules" in self.path: b=json.dumps(RULES).encode()
        elif "/api/v2/silences" in self.path: b=json.dumps(SIL).encode()
        elif "/api/v2/status" in self.path: b=b'{"cluster":{"status":"ready"},"versionInfo":{},"config":{"original":""},"uptime":"2020-01-01T00:00:00Z"}'
        else: b=b'{"status":"success","data":{}}'
        self.send_response(200); self.send_header("Content-Type","application/json"); self.send_header("Content-Length",str(len(b))); self.end_headers(); self.wfile.write(b)
ThreadingHTTPServer(("127.0.0.1",PORT),H).serve_forever()
