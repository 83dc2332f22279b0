//! tokio_echo — the idiomatic Tokio echo server, a peer for bench/run.sh.
//!
//!     tokio-echo --port 7300 [--host 127.0.0.1]
//!
//! The current-thread runtime (one thread, like every other server in the
//! bench), one task per connection, each with its own 64 KiB read buffer:
//! read_buf, write_all, and after the peer's EOF a half-close. Prints
//! "listening on HOST:PORT" on stderr when ready (the real port, also for
//! --port 0). It asks Tokio for no signal feature, so SIGTERM's default
//! action ends it.

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const READ_SIZE: usize = 65536;
const BACKLOG: u32 = 4096;

async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    // Reserved, not zeroed (read_buf fills spare capacity): like the other
    // peers, an idle connection's buffer costs only the pages it has used.
    let mut buf = Vec::with_capacity(READ_SIZE);
    loop {
        let n = stream.read_buf(&mut buf).await?;
        if n == 0 {
            return stream.shutdown().await;
        }
        stream.write_all(&buf).await?;
        buf.clear();
    }
}

fn parse_args() -> Result<SocketAddr, String> {
    let mut host: IpAddr = [127, 0, 0, 1].into();
    let mut port: u16 = 7300;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--host" => host = value.parse().map_err(|e| format!("--host {value}: {e}"))?,
            "--port" => port = value.parse().map_err(|e| format!("--port {value}: {e}"))?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(SocketAddr::new(host, port))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = match parse_args() {
        Ok(addr) => addr,
        Err(msg) => {
            eprintln!("tokio-echo: {msg}\nusage: tokio-echo [--host IP] [--port N]");
            std::process::exit(2);
        }
    };
    // TcpListener::bind would do, but its backlog is smaller than the other peers'.
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(BACKLOG)?;
    let real = listener.local_addr()?;
    eprintln!("listening on {}:{}", real.ip(), real.port());
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                // Echo replies are small and latency-bound, as in the other peers.
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = echo(stream).await;
                });
            }
            // Out of descriptors, say: let the connections run, then try
            // again, as the epoll peer does (no timer: Debian's tokio is
            // built here without its time feature).
            Err(_) => tokio::task::yield_now().await,
        }
    }
}
