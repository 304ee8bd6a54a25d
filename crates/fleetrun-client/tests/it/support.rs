//! Test support: a one-connection-per-request HTTP/1.1 responder that records the raw requests it
//! receives, and a subprocess runner with a deadline.
//!
//! The responder understands just enough HTTP to capture what real clients send (request line,
//! headers, `Content-Length` body); it answers every request with `Connection: close`. It is not
//! a model of the fleetrun server.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};

/// How long the responder waits for each request to arrive.
const ACCEPT_DEADLINE: Duration = Duration::from_secs(60);
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// A request as it arrived on the socket.
#[derive(Debug)]
pub(crate) struct Captured {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Captured {
    #[track_caller]
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("request has no {name} header: {:?}", self.headers))
            .to_str()
            .unwrap()
    }
}

/// What the responder answers to one request.
pub(crate) struct Canned {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
}

impl Canned {
    pub(crate) fn amz_json(status: u16, body: &str) -> Canned {
        Canned { status, content_type: "application/x-amz-json-1.1", body: body.to_owned() }
    }
}

/// Serves one canned response per connection, in order, on 127.0.0.1.
pub(crate) struct Responder {
    addr: SocketAddr,
    thread: JoinHandle<Result<Vec<Captured>, String>>,
}

impl Responder {
    pub(crate) fn start(responses: Vec<Canned>) -> Responder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let thread = thread::spawn(move || serve(listener, responses));
        Responder { addr, thread }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits for every canned response to be served and returns the captured requests.
    #[track_caller]
    pub(crate) fn finish(self) -> Vec<Captured> {
        match self.thread.join() {
            Ok(Ok(captured)) => captured,
            Ok(Err(message)) => panic!("responder failed: {message}"),
            Err(_) => panic!("responder thread panicked"),
        }
    }
}

fn serve(listener: TcpListener, responses: Vec<Canned>) -> Result<Vec<Captured>, String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut captured = Vec::new();
    for response in responses {
        let mut stream = accept_before(&listener, Instant::now() + ACCEPT_DEADLINE)?;
        captured.push(read_request(&mut stream)?);
        write_response(&mut stream, &response).map_err(|e| format!("writing response: {e}"))?;
    }
    Ok(captured)
}

fn accept_before(listener: &TcpListener, deadline: Instant) -> Result<TcpStream, String> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).map_err(|e| e.to_string())?;
                stream.set_read_timeout(Some(READ_TIMEOUT)).map_err(|e| e.to_string())?;
                return Ok(stream);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                return Err(format!("no request arrived within {ACCEPT_DEADLINE:?}"));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
}

fn read_request(stream: &mut TcpStream) -> Result<Captured, String> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end;
        }
        read_more(stream, &mut buffer)?;
    };
    let (method, uri, headers) = parse_head(&buffer[..head_end])?;
    let length: usize = match headers.get("content-length") {
        Some(value) => value.to_str().unwrap().parse().map_err(|_| "bad Content-Length")?,
        None if headers.contains_key("transfer-encoding") => {
            return Err("chunked bodies are not supported".to_owned());
        }
        None => 0,
    };
    let body_start = head_end + 4;
    while buffer.len() < body_start + length {
        read_more(stream, &mut buffer)?;
    }
    Ok(Captured { method, uri, headers, body: buffer[body_start..body_start + length].to_vec() })
}

fn parse_head(head: &[u8]) -> Result<(Method, Uri, HeaderMap), String> {
    let head = std::str::from_utf8(head).map_err(|e| e.to_string())?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(format!("bad request line {request_line:?}"));
    };
    let method = method.parse().map_err(|_| format!("bad method {method:?}"))?;
    let uri = target.parse().map_err(|_| format!("bad target {target:?}"))?;
    Ok((method, uri, parse_headers(lines)?))
}

fn parse_headers<'a>(lines: impl Iterator<Item = &'a str>) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(|| format!("bad header line {line:?}"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| e.to_string())?;
        let value = HeaderValue::from_str(value.trim()).map_err(|e| e.to_string())?;
        headers.append(name, value);
    }
    Ok(headers)
}

fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).map_err(|e| format!("reading request: {e}"))?;
    if n == 0 {
        return Err("connection closed mid-request".to_owned());
    }
    buffer.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

fn write_response(stream: &mut TcpStream, response: &Canned) -> std::io::Result<()> {
    let reason = http::StatusCode::from_u16(response.status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("Unknown");
    write!(
        stream,
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         x-amzn-RequestId: 00000000-0000-4000-8000-000000000000\r\nConnection: close\r\n\r\n{}",
        response.status,
        response.content_type,
        response.body.len(),
        response.body
    )?;
    stream.flush()
}

/// Runs `command` to completion within `deadline`, killing it otherwise. A missing program is a
/// test failure with a clear message, never a silent pass: CI installs awscli and boto3.
#[track_caller]
pub(crate) fn run_with_deadline(mut command: Command, deadline: Duration) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = match command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "`{program}` is not installed or not on PATH; these tests need the aws CLI (awscli v1) \
             and python3 with boto3 (`pip install awscli boto3`)"
        ),
        Err(e) => panic!("could not start `{program}`: {e}"),
    };
    let give_up = Instant::now() + deadline;
    while child.try_wait().expect("wait for child").is_none() {
        if Instant::now() > give_up {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect output");
            panic!(
                "`{program}` did not finish within {deadline:?}; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect output")
}

/// A command with every `AWS_*` variable of the test process removed, so a developer's profile,
/// region, or endpoint cannot leak in.
pub(crate) fn command_without_aws_env(program: &str) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}
