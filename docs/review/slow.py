import socket, threading, time, sys
def serve(port, handler):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", port)); s.listen(50)
    while True:
        c, _ = s.accept(); threading.Thread(target=handler, args=(c,), daemon=True).start()
def trickle(c):
    try:
        c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        while True: c.sendall(b" "); time.sleep(0.5)
    except Exception: pass
def silent(c):
    time.sleep(3600)
def headers_trickle(c):
    try:
        c.recv(65536); c.sendall(b"HTTP/1.1 200 OK\r\n")
        while True: c.sendall(b"X-A: b\r\n"); time.sleep(0.2)
    except Exception: pass
def udp_silent(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", port))
    while True: s.recvfrom(2048)
for port, h in ((18131, trickle), (18132, silent), (18133, headers_trickle)):
    threading.Thread(target=serve, args=(port, h), daemon=True).start()
threading.Thread(target=udp_silent, args=(18134,), daemon=True).start()
time.sleep(100000)
