#!/usr/bin/python3
"""asyncio_chat.py - aio-chat's protocol in idiomatic asyncio, a peer for bench/chat_bench.sh.

    /usr/bin/python3 asyncio_chat.py --port 7201 [--host 127.0.0.1] [--uvloop]
                                     [--max-line 4096] [--max-outbox-bytes 1048576]

start_server + readline, a Room of StreamWriters, and a broadcast that calls
writer.write() for every other member, exactly what the asyncio docs teach
(the line is encoded once and the same bytes object goes to every writer).
A member whose transport buffer passes --max-outbox-bytes is aborted
(transport.abort()), so the peer is as bounded as aio-chat. Logs
"listening on HOST:PORT" on stderr when ready; SIGTERM/SIGINT tell every
client "* server shutting down", close them and exit 0.
"""
import argparse
import asyncio
import re
import signal
import sys

NAME = re.compile(rb"[A-Za-z0-9_-]{1,32}")


class Client:
    def __init__(self, nick: bytes, writer: asyncio.StreamWriter) -> None:
        self.nick = nick
        self.writer = writer
        self.room = None
        self.quitting = False


class Chat:
    def __init__(self, max_line: int, max_outbox: int) -> None:
        self.max_line = max_line
        self.max_outbox = max_outbox
        self.rooms = {}   # name -> list of Client, in join order
        self.nicks = {}   # nick -> Client
        self.next_guest = 1

    def send(self, client: Client, line: bytes) -> None:
        w = client.writer
        if w.is_closing():
            return
        w.write(line)
        if w.transport.get_write_buffer_size() > self.max_outbox:
            w.transport.abort()

    def broadcast(self, room: bytes, line: bytes, skip=None) -> None:
        for c in self.rooms[room]:
            if c is not skip:
                self.send(c, line)

    def enter(self, c: Client, room: bytes) -> int:
        members = self.rooms.setdefault(room, [])
        self.broadcast(room, b"* " + c.nick + b" joined\n")
        members.append(c)
        c.room = room
        return len(members)

    def leave(self, c: Client) -> None:
        members = self.rooms[c.room]
        members.remove(c)
        if members:
            self.broadcast(c.room, b"* " + c.nick + b" left\n")
        else:
            del self.rooms[c.room]
        c.room = None

    def on_line(self, c: Client, text: bytes) -> None:
        if not text:
            return
        if not text.startswith(b"/"):
            return self.broadcast(c.room, b"<" + c.nick + b"> " + text + b"\n", c)
        if text.startswith(b"//"):
            return self.broadcast(c.room, b"<" + c.nick + b"> " + text[1:] + b"\n", c)
        cmd, _, arg = text.partition(b" ")
        arg = arg.lstrip(b" ")
        if cmd == b"/nick":
            if not NAME.fullmatch(arg):
                return self.send(c, b"! invalid nick\n")
            if arg != c.nick and arg in self.nicks:
                return self.send(c, b"! nick taken: " + arg + b"\n")
            old, c.nick = c.nick, arg
            del self.nicks[old]
            self.nicks[arg] = c
            self.send(c, b"* you are now " + arg + b"\n")
            if arg != old:
                self.broadcast(c.room, b"* " + old + b" is now " + arg + b"\n", c)
        elif cmd == b"/join":
            room = arg[1:] if arg.startswith(b"#") else arg
            if not NAME.fullmatch(room):
                return self.send(c, b"! invalid room\n")
            if room == c.room:
                return self.send(c, b"! already in #" + room + b"\n")
            self.leave(c)
            n = self.enter(c, room)
            self.send(c, b"* joined #%s (%d members)\n" % (room, n))
        elif cmd == b"/rooms":
            listing = b"".join(b" #%s(%d)" % (r, len(m)) for r, m in sorted(self.rooms.items()))
            self.send(c, b"* rooms:" + listing + b"\n")
        elif cmd == b"/who":
            self.send(c, b"* in #" + c.room + b": " + b" ".join(m.nick for m in self.rooms[c.room]) + b"\n")
        elif cmd == b"/msg":
            nick, _, msg = arg.partition(b" ")
            msg = msg.lstrip(b" ")
            if not nick or not msg:
                return self.send(c, b"! usage: /msg NICK text\n")
            target = self.nicks.get(nick)
            if target is None:
                return self.send(c, b"! no such nick: " + nick + b"\n")
            self.send(target, b"[pm] <" + c.nick + b"> " + msg + b"\n")
        elif cmd == b"/me":
            if not arg:
                return self.send(c, b"! usage: /me action\n")
            self.broadcast(c.room, b"* " + c.nick + b" " + arg + b"\n", c)
        elif cmd == b"/quit":
            self.send(c, b"* bye\n")
            c.quitting = True
        else:
            self.send(c, b"! unknown command: " + cmd + b"\n")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            nick = b"guest%d" % self.next_guest
            self.next_guest += 1
            if nick not in self.nicks:
                break
        c = Client(nick, writer)
        self.nicks[nick] = c
        self.send(c, b"* welcome " + nick + b", you are in #lobby\n")
        self.enter(c, b"lobby")
        try:
            while not c.quitting:
                line = await reader.readline()
                if not line:
                    break
                text = line.rstrip(b"\n")
                if text.endswith(b"\r"):
                    text = text[:-1]
                if len(text) > self.max_line:
                    raise ValueError("line too long")
                self.on_line(c, text)
        except ValueError:  # asyncio.LimitOverrunError is a ValueError too
            self.send(c, b"! line too long\n")
        except (ConnectionError, OSError):
            pass
        finally:
            self.leave(c)
            del self.nicks[c.nick]
            writer.close()

    def shutdown(self) -> None:
        for c in list(self.nicks.values()):
            self.send(c, b"* server shutting down\n")
            c.writer.close()


async def main(args: argparse.Namespace) -> None:
    chat = Chat(args.max_line, args.max_outbox_bytes)
    server = await asyncio.start_server(chat.handle, args.host, args.port, backlog=4096,
                                        limit=args.max_line + 2)
    real = server.sockets[0].getsockname()
    print(f"listening on {real[0]}:{real[1]}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    chat.shutdown()
    await asyncio.sleep(0.1)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7201)
    ap.add_argument("--max-line", type=int, default=4096)
    ap.add_argument("--max-outbox-bytes", type=int, default=1024 * 1024)
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = ap.parse_args()
    if args.uvloop:
        import uvloop
        uvloop.install()
    try:
        asyncio.run(main(args))
    except KeyboardInterrupt:
        pass
