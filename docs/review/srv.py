"""Fake target: MODE empty|junk|json_empty|prom_empty|prom_nan|slow|huge|deepjson"""
import sys, json, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
MODE = sys.argv[1]; PORT = int(sys.argv[2])
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): 
        with open(f"/tmp/rvfake/{MODE}.log","a") as f: f.write(self.requestline+"\n")
    def body(self):
        p = self.path
        if MODE == "empty": return b"", "text/plain"
        if MODE == "junk": return b"\x00\xffjunk<html>{not json", "text/html"
        if MODE == "json_empty": return b"{}", "application/json"
        if MODE == "json_null": return b"null", "application/json"
        if MODE == "json_list": return b"[]", "application/json"
        if MODE.startswith("prom"):
            if "/api/v1/query" in p or "/api/v1/query_range" in p:
                if MODE == "prom_empty":
                    rt = "matrix" if "query_range" in p else "vector"
                    return json.dumps({"status":"success","data":{"resultType":rt,"result":[]}}).encode(), "application/json"
                if MODE == "prom_nan":
                    return json.dumps({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[time.time(),"NaN"]}]}}).encode(), "application/json"
                if MODE == "prom_scalar0":
                    return json.dumps({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[time.time(),"0"]}]}}).encode(), "application/json"
            if "/api/v1/rules" in p: return json.dumps({"status":"success","data":{"groups":[]}}).encode(), "application/json"
            if "/api/v1/alerts" in p: return json.dumps({"status":"success","data":{"alerts":[]}}).encode(), "application/json"
            if "/api/v1/targets" in p: return json.dumps({"status":"success","data":{"activeTargets":[],"droppedTargets":[]}}).encode(), "application/json"
            if "/api/v1/" in p: return json.dumps({"status":"success","data":{}}).encode(), "application/json"
            if "silences" in p: return b"[]", "application/json"
            return b"", "text/plain"
        if MODE == "deepjson": return b"["*100000 + b"]"*100000, "application/json"
        if MODE == "huge": return b"a"*(15*1024*1024), "text/plain"
        return b"", "text/plain"
    def do_GET(self):
        b, ct = self.body()
        self.send_response(200); self.send_header("Content-Type", ct); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    do_POST = do_GET
    def do_HEAD(self):
        self.send_response(200); self.send_header("Content-Length","0"); self.end_headers()
ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
