import socket, struct, time, threading
D = 2208988800
def ts(t): 
    return struct.pack("!II", int(t + D), int((t % 1) * 2**32))
def serve(port, mode):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", port))
    while True:
        data, addr = s.recvfrom(1024)
        now = time.time()
        li, stratum = 0, 2
        if mode == "leap3": li = 3
        if mode == "stratum0": stratum = 0
        if mode == "stratum16": stratum = 16
        first = (li << 6) | (4 << 3) | 4
        origin = data[40:48]
        if mode == "badorigin": origin = ts(12345.0)
        if mode == "zero": 
            pkt = struct.pack("!BBbb", first, stratum, 6, -20) + b"\0"*8 + b"LOCL" + b"\0"*32
        else:
            rootdisp = 0
            if mode == "disp": rootdisp = 0xFFFFFFFF
            pkt = struct.pack("!BBbbII", first, stratum, 6, -20, 0, rootdisp) + b"GPS\0" + ts(now) + origin + ts(now) + ts(now)
        s.sendto(pkt, addr)
for port, mode in ((18151,"leap3"),(18152,"stratum0"),(18153,"stratum16"),(18154,"badorigin"),(18155,"zero"),(18156,"disp"),(18157,"ok")):
    threading.Thread(target=serve, args=(port, mode), daemon=True).start()
time.sleep(100000)
