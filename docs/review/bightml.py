from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
B = b"<html><body>" + b"<a" * 500000
class H(BaseHTTPRequestHandler):
    protocol_version="HTTP/1.1"
    def log_message(self,*a): pass
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Type","text/html"); self.send_header("Cross-Origin-Embedder-Policy","require-corp"); self.send_header("Cross-Origin-Opener-Policy","same-origin"); self.send_header("Content-Length",str(len(B))); self.end_headers(); self.wfile.write(B)
ThreadingHTTPServer(("127.0.0.1",18170),H).serve_forever()
