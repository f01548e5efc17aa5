//! A static file server on loopback for tests that need an HTTP chart repository (GET only, one
//! thread per connection). Included with `#[path]` by the test binaries that use it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// A static file server on a loopback port for `dir` (GET only, one thread per connection).
pub fn serve(dir: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).map_or(true, |n| n == 0) || line == "\r\n" {
                        break;
                    }
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let name = path.trim_start_matches('/').split('?').next().unwrap_or("");
                let name = name.replace("%2B", "+");
                let body = (!name.contains("..") && !name.is_empty())
                    .then(|| std::fs::read(dir.join(&name)).ok())
                    .flatten();
                let mut stream = &stream;
                let _ = match body {
                    Some(b) => stream
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                b.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|_| stream.write_all(&b)),
                    None => stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                };
            });
        }
    });
    url
}

/// Copies the tree `src` to `dst` with `@@REPO@@` in every file replaced by `url` (the served
/// repository's address, which the committed inputs cannot know).
pub fn copy_with_repo_url(src: &Path, dst: &Path, url: &str) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for e in std::fs::read_dir(src).expect("read") {
        let e = e.expect("entry");
        let to = dst.join(e.file_name());
        if e.path().is_dir() {
            copy_with_repo_url(&e.path(), &to, url);
        } else {
            let text = std::fs::read_to_string(e.path()).expect("read");
            std::fs::write(to, text.replace("@@REPO@@", url)).expect("write");
        }
    }
}
