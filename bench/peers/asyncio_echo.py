#!/usr/bin/python3
"""asyncio_echo.py - the idiomatic asyncio echo server, a peer for bench/run.sh.

    /usr/bin/python3 asyncio_echo.py --port 7200 [--host 127.0.0.1] [--uvloop]

start_server + read(65536) + write + drain, exactly what the asyncio docs
teach; --uvloop swaps the event loop for uvloop (Debian's python3-uvloop, so
run it with /usr/bin/python3). Logs "listening on HOST:PORT" on stderr when
ready (the real port, also for --port 0); SIGTERM/SIGINT stop it with exit 0.
"""
import argparse
import asyncio
import signal
import sys


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(host: str, port: int) -> None:
    server = await asyncio.start_server(handle, host, port, backlog=4096)
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
    ap.add_argument("--port", type=int, default=7200)
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = ap.parse_args()
    if args.uvloop:
        import uvloop
        uvloop.install()
    asyncio.run(main(args.host, args.port))
