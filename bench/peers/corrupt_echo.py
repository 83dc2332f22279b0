#!/usr/bin/python3
"""corrupt_echo.py - a broken echo server for tests: it flips one byte.

    /usr/bin/python3 corrupt_echo.py --port 0 [--at 100]

Echoes like asyncio_echo.py, except that the byte at stream offset --at
(default 100) of every connection comes back with its bits inverted, so a
client that verifies what it gets back must report a mismatch. Logs
"listening on HOST:PORT" on stderr; SIGTERM/SIGINT stop it with exit 0.
"""
import argparse
import asyncio
import signal
import sys


def make_handler(at: int):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        offset = 0
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if offset <= at < offset + len(data):
                    b = bytearray(data)
                    b[at - offset] ^= 0xFF
                    data = bytes(b)
                offset += len(data)
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
    return handle


async def main(host: str, port: int, at: int) -> None:
    server = await asyncio.start_server(make_handler(at), host, port)
    real = server.sockets[0].getsockname()
    print(f"listening on {real[0]}:{real[1]}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--at", type=int, default=100, help="stream offset of the flipped byte")
    args = ap.parse_args()
    asyncio.run(main(args.host, args.port, args.at))
