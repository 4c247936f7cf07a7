//! A connection to the receiver over each transport, and how a message is sent on it.

use std::{
    io::{self, Write},
    net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket},
    os::{
        fd::{AsRawFd, RawFd},
        unix::net::{UnixDatagram, UnixStream},
    },
    time::{Duration, Instant},
};

use super::format::octet_counted;
use crate::output::config::Transport;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// An open connection to the receiver.
pub(super) enum Connection {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Unix(UnixDatagram),
    UnixStream(UnixStream),
}

impl Connection {
    pub(super) fn open(transport: Transport, address: &str, deadline: Option<Instant>) -> io::Result<Self> {
        let timeout = match deadline {
            Some(deadline) => CONNECT_TIMEOUT.min(deadline.saturating_duration_since(Instant::now())),
            None => CONNECT_TIMEOUT,
        }
        .max(Duration::from_millis(10));
        match transport {
            Transport::Udp => {
                let target = resolve(address)?;
                let local: SocketAddr = if target.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let socket = UdpSocket::bind(local)?;
                socket.connect(target)?;
                Ok(Self::Udp(socket))
            }
            Transport::Tcp => {
                let target = resolve(address)?;
                let stream = TcpStream::connect_timeout(&target, timeout)?;
                stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
                let _ = stream.set_nodelay(true);
                Ok(Self::Tcp(stream))
            }
            Transport::Unix => {
                let socket = UnixDatagram::unbound()?;
                socket.connect(address)?;
                socket.set_write_timeout(Some(WRITE_TIMEOUT))?;
                Ok(Self::Unix(socket))
            }
            Transport::UnixStream => {
                let stream = UnixStream::connect(address)?;
                stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
                Ok(Self::UnixStream(stream))
            }
        }
    }

    /// Sends one message: a datagram, or an octet-counted frame. On a stream, a connection the
    /// receiver has closed is noticed first (receivers never send), so the message goes on a
    /// new connection instead of into a dead one.
    pub(super) fn send(&mut self, message: &[u8]) -> io::Result<()> {
        match self {
            Self::Udp(socket) => socket.send(message).map(drop),
            Self::Unix(socket) => socket.send(message).map(drop),
            Self::Tcp(stream) => {
                check_open(stream.as_raw_fd())?;
                stream.write_all(&octet_counted(message))
            }
            Self::UnixStream(stream) => {
                check_open(stream.as_raw_fd())?;
                stream.write_all(&octet_counted(message))
            }
        }
    }
}

/// Fails when the peer closed the stream (a non-blocking peek sees the end, or an error).
fn check_open(fd: RawFd) -> io::Result<()> {
    let mut byte = 0u8;
    // SAFETY: reads at most one byte into `byte`, which outlives the call.
    let read = unsafe { libc::recv(fd, (&raw mut byte).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
    if read == 0 {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "the receiver closed the connection",
        ));
    }
    if read < 0 {
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::WouldBlock {
            return Err(error);
        }
    }
    Ok(())
}

fn resolve(address: &str) -> io::Result<SocketAddr> {
    address
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the name has no address"))
}
