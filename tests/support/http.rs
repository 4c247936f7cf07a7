//! The server side of HTTP/1.1 for the tests' receivers on loopback: read one request of a
//! keep-alive connection, write one JSON answer.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
};

/// One request: its path, its headers (names lower-cased) and its body.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// Reads the connection's next request, answering `Expect: 100-continue` before its body;
/// `None` when the client closed the connection or sent less than it announced.
pub fn read_request(reader: &mut BufReader<TcpStream>, writer: &mut TcpStream) -> Option<HttpRequest> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return None;
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    if headers
        .get("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        let _ = writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(HttpRequest { path, headers, body })
}

/// Writes a JSON `answer` with `status` (code and reason, `200 OK`); false when the client is gone.
pub fn write_json_answer(writer: &mut TcpStream, status: &str, answer: &str) -> bool {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
        answer.len()
    );
    writer.write_all(response.as_bytes()).is_ok()
}
