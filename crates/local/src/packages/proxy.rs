//! The install step's proxy, on the host: it accepts on the listening socket
//! that init made in the sandbox's own network namespace, and opens a
//! connection only to the configured package registries (`CONNECT host:port`
//! for HTTPS, absolute-form requests for plain HTTP). Everything else is
//! refused, and noted for the installer's output.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The loopback port of the proxy inside an install sandbox.
pub(super) const PROXY_PORT: u16 = 3128;
const MAX_HEAD: usize = 16 << 10;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once for one install (each holds two host
/// descriptors); more wait in the sandbox's own listen backlog. pip and npm
/// open far fewer.
pub(crate) const MAX_CONNECTIONS: usize = 32;
/// A connection on which nothing moves for this long is closed.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where an install step may go, and what it tried that failed.
#[derive(Debug, Default)]
pub(crate) struct Egress {
    /// Lower-case host names (or addresses) with their ports.
    allowed: Vec<(String, u16)>,
    notes: Mutex<Vec<String>>,
}

impl Egress {
    pub(crate) fn new(allowed: Vec<(String, u16)>) -> Arc<Self> {
        Arc::new(Egress {
            allowed,
            notes: Mutex::default(),
        })
    }

    fn allows(&self, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        self.allowed.iter().any(|(h, p)| *h == host && *p == port)
    }

    fn note(&self, note: String) {
        let mut notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        if !notes.contains(&note) {
            notes.push(note);
        }
    }

    /// What went wrong on the way out, one line each, for the install's stderr.
    pub(crate) fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Serves one install step: waits for init's listening socket on `channel`,
/// then proxies every connection until dropped (abort the task to stop).
pub(crate) async fn serve(channel: UnixStream, egress: Arc<Egress>) {
    let received = tokio::task::spawn_blocking(move || receive_listener(&channel)).await;
    let Ok(Some(listener)) = received else { return };
    serve_listener(std::net::TcpListener::from(listener), egress).await;
}

/// Accepts on `listener` until the call ends (the task is aborted).
pub(crate) async fn serve_listener(listener: std::net::TcpListener, egress: Arc<Egress>) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        if connections.len() >= MAX_CONNECTIONS {
            connections.join_next().await;
            continue;
        }
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        connections.spawn(proxy(client, egress.clone()));
    }
}

/// The listening socket init sends, or None when the sandbox ended first.
fn receive_listener(channel: &UnixStream) -> Option<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let message = recvmsg::<()>(
        channel.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    let fd = message.cmsgs().ok()?.find_map(|c| match c {
        ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
        _ => None,
    })?;
    // SAFETY: the kernel just installed this descriptor for us alone.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One client connection: a CONNECT tunnel or one plain HTTP request.
async fn proxy(mut client: TcpStream, egress: Arc<Egress>) {
    let Ok(Some((head, body))) = tokio::time::timeout(IDLE_TIMEOUT, read_head(&mut client)).await
    else {
        return;
    };
    let Some(request) = ProxyRequest::parse(&head) else {
        let _ = client.write_all(&reply(400, "not a proxy request")).await;
        return;
    };
    let (host, port) = (request.host.as_str(), request.port);
    if !egress.allows(host, port) {
        egress.note(format!(
            "e2b-native: the install tried to reach {host}:{port}, which is not a package source; \
             it was refused (add it to packages.allowHosts if it is a registry you trust)"
        ));
        let _ = client.write_all(&reply(403, "not a package source")).await;
        return;
    }
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port))).await;
    let mut upstream = match connected {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return unreachable(&egress, &mut client, host, port, &e.to_string()).await,
        Err(_) => return unreachable(&egress, &mut client, host, port, "timed out").await,
    };
    let opening = match &request.forward_head {
        None => {
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
        }
        Some(head) => match upstream.write_all(head).await {
            Ok(()) => upstream.write_all(&body).await,
            Err(e) => Err(e),
        },
    };
    if opening.is_ok() {
        relay(&mut client, &mut upstream, IDLE_TIMEOUT).await;
    }
}

/// Copies both ways until both sides have ended, or nothing has moved for
/// `idle`.
async fn relay(client: &mut TcpStream, upstream: &mut TcpStream, idle: Duration) {
    let (mut client_in, mut client_out) = client.split();
    let (mut upstream_in, mut upstream_out) = upstream.split();
    let (mut up, mut down) = ([0u8; 16 << 10], [0u8; 16 << 10]);
    let (mut client_open, mut upstream_open) = (true, true);
    while client_open || upstream_open {
        let step = async {
            tokio::select! {
                read = client_in.read(&mut up), if client_open => match read {
                    Ok(n) if n > 0 => upstream_out.write_all(&up[..n]).await.map(|()| (true, true)),
                    _ => upstream_out.shutdown().await.map(|()| (false, upstream_open)),
                },
                read = upstream_in.read(&mut down), if upstream_open => match read {
                    Ok(n) if n > 0 => client_out.write_all(&down[..n]).await.map(|()| (true, true)),
                    _ => client_out.shutdown().await.map(|()| (client_open, false)),
                },
            }
        };
        let moved = tokio::time::timeout(idle, step).await;
        let Ok(Ok((c, u))) = moved else { return };
        (client_open, upstream_open) = (c && client_open, u && upstream_open);
    }
}

async fn unreachable(egress: &Egress, client: &mut TcpStream, host: &str, port: u16, why: &str) {
    egress.note(format!(
        "e2b-native: the package registry {host}:{port} could not be reached ({why}); \
         check the network and the configured package sources"
    ));
    let _ = client.write_all(&reply(502, "registry unreachable")).await;
}

/// The request head (up to the blank line) and whatever came after it.
async fn read_head(client: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let body = buffer.split_off(end + 4);
            return Some((buffer, body));
        }
        if buffer.len() > MAX_HEAD {
            return None;
        }
    }
}

fn reply(status: u16, reason: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\ne2b-native: {reason}\n",
        reason.len() + 13
    )
    .into_bytes()
}

#[derive(Debug, PartialEq)]
struct ProxyRequest {
    host: String,
    port: u16,
    /// For plain HTTP: the head to send upstream (origin-form, one request
    /// per connection). None for a CONNECT tunnel.
    forward_head: Option<Vec<u8>>,
}

impl ProxyRequest {
    fn parse(head: &[u8]) -> Option<Self> {
        let head = std::str::from_utf8(head).ok()?;
        let mut lines = head.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let (method, target, version) = (first.next()?, first.next()?, first.next()?);
        if method == "CONNECT" {
            let (host, port) = split_authority(target, None)?;
            return Some(ProxyRequest {
                host,
                port,
                forward_head: None,
            });
        }
        let rest = target.strip_prefix("http://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        let (host, port) = split_authority(authority, Some(80))?;
        let mut forward = format!("{method} {path} {version}\r\n");
        for line in lines.filter(|l| !l.is_empty()) {
            let name = line.split(':').next().unwrap_or("").trim();
            let hop_by_hop = [
                "connection",
                "proxy-connection",
                "keep-alive",
                "proxy-authorization",
            ];
            if !hop_by_hop.iter().any(|h| name.eq_ignore_ascii_case(h)) {
                forward.push_str(line);
                forward.push_str("\r\n");
            }
        }
        forward.push_str("Connection: close\r\n\r\n");
        Some(ProxyRequest {
            host,
            port,
            forward_head: Some(forward.into_bytes()),
        })
    }
}

/// `host:port`, `[v6]:port`, or `host` with a default port.
fn split_authority(authority: &str, default_port: Option<u16>) -> Option<(String, u16)> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port.parse().ok()?)),
        _ => (authority, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return None;
    }
    Some((host.to_ascii_lowercase(), port.or(default_port)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connect_and_plain_requests() {
        let connect =
            ProxyRequest::parse(b"CONNECT PyPI.org:443 HTTP/1.1\r\nHost: pypi.org\r\n").unwrap();
        assert_eq!((connect.host.as_str(), connect.port), ("pypi.org", 443));
        assert!(connect.forward_head.is_none());

        let get = ProxyRequest::parse(
            b"GET http://127.0.0.1:4873/left-pad HTTP/1.1\r\nHost: 127.0.0.1:4873\r\nConnection: keep-alive\r\nAccept: */*\r\n",
        )
        .unwrap();
        assert_eq!((get.host.as_str(), get.port), ("127.0.0.1", 4873));
        let head = String::from_utf8(get.forward_head.unwrap()).unwrap();
        assert_eq!(
            head,
            "GET /left-pad HTTP/1.1\r\nHost: 127.0.0.1:4873\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn refuses_what_is_not_a_proxy_request() {
        for head in [
            &b"GET /local HTTP/1.1\r\n"[..],
            b"CONNECT pypi.org HTTP/1.1\r\n",
            b"CONNECT user@evil:443 HTTP/1.1\r\n",
            b"GET https://pypi.org/ HTTP/1.1\r\n",
        ] {
            assert_eq!(ProxyRequest::parse(head), None, "{head:?}");
        }
    }

    #[test]
    fn allows_only_listed_hosts_and_ports() {
        let egress = Egress::new(vec![("pypi.org".into(), 443)]);
        assert!(egress.allows("PYPI.org", 443));
        assert!(!egress.allows("pypi.org", 80));
        assert!(!egress.allows("evil.example", 443));
    }

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let near = TcpStream::connect(listener.local_addr().unwrap());
        let (near, far) = tokio::join!(near, listener.accept());
        (near.unwrap(), far.unwrap().0)
    }

    #[tokio::test]
    async fn a_relay_carries_both_ways_and_ends_when_nothing_moves() {
        let (mut client, mut client_far) = pair().await;
        let (mut upstream, mut upstream_far) = pair().await;
        let relay = tokio::spawn(async move {
            super::relay(&mut client_far, &mut upstream, Duration::from_millis(200)).await;
        });
        client.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        upstream_far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        upstream_far.write_all(b"pong").await.unwrap();
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"pong");
        // Then silence: the relay gives up and both ends see the connection close.
        tokio::time::timeout(Duration::from_secs(5), relay)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(client.read(&mut got).await.unwrap(), 0);
    }
}
