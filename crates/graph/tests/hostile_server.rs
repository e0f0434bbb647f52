//! A server that answers with more than any real answer holds — a JSON
//! body that never ends, a listing whose pages never stop — is refused
//! with a clear error, without buffering what it sends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use nuage_graph::auth::{AppRegistration, Endpoints};
use nuage_graph::client::{Graph, TokenSource};
use nuage_graph::error::{GraphError, Result};
use nuage_graph::types::{ItemLocation, Secret};

struct Fixed;
impl TokenSource for Fixed {
    fn access_token(&mut self) -> Result<Secret> {
        Ok(Secret::new("t".to_string()))
    }
    fn refresh(&mut self) -> Result<Secret> {
        Ok(Secret::new("t".to_string()))
    }
}

/// Serves every request on a loopback port with `answer(base, n)` for the
/// n-th request (the head; a body of `endless` bytes follows when given).
fn serve(answer: impl Fn(&str, usize) -> (String, Option<u64>) + Send + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let b = base.clone();
    std::thread::spawn(move || {
        for (n, s) in l.incoming().enumerate() {
            let Ok(mut s) = s else { return };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let _ = r.by_ref().take(len as u64).read_to_end(&mut Vec::new());
            let (head, endless) = answer(&b, n);
            let _ = s.write_all(head.as_bytes());
            if let Some(bytes) = endless {
                let chunk = vec![b' '; 64 << 10];
                let mut sent = 0;
                while sent < bytes && s.write_all(&chunk).is_ok() {
                    sent += chunk.len() as u64;
                }
            }
        }
    });
    base
}

fn json_head(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn at() -> ItemLocation {
    ItemLocation {
        drive_id: "d".into(),
        item_id: "i".into(),
    }
}

#[test]
fn an_answer_that_never_ends_is_refused() {
    let base = serve(|_, _| {
        (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"value\":[".to_string(),
            Some(1 << 30),
        )
    });
    let mut tokens = Fixed;
    let mut g = Graph::new(&format!("{base}/v1.0"), &mut tokens, Duration::from_secs(5));
    let started = Instant::now();
    let e = g.children(&at()).unwrap_err();
    assert!(
        matches!(&e, GraphError::InvalidResponse { detail } if detail.contains("larger than 4 MiB")),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_listing_whose_pages_never_stop_is_refused() {
    let base = serve(|base, n| {
        let items: Vec<String> = (0..1000)
            .map(|i| format!(r#"{{"id":"x{n}-{i}","name":"f{n}-{i}","size":1}}"#))
            .collect();
        let body = format!(
            r#"{{"value":[{}],"@odata.nextLink":"{base}/v1.0/next/{n}"}}"#,
            items.join(",")
        );
        (json_head(&body), None)
    });
    let mut tokens = Fixed;
    let mut g = Graph::new(&format!("{base}/v1.0"), &mut tokens, Duration::from_secs(5));
    let e = g.children(&at()).unwrap_err();
    assert!(
        matches!(&e, GraphError::InvalidResponse { detail } if detail.contains("more than 100000 items")),
        "{e:?}"
    );
}

#[test]
fn an_identity_answer_that_never_ends_is_refused() {
    let base = serve(|_, _| {
        (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"access_token\":\"".to_string(),
            Some(1 << 30),
        )
    });
    let endpoints = Endpoints::with(Some(&base), None);
    let app = AppRegistration {
        client_id: "c".into(),
        tenant: "t".into(),
    };
    let e =
        nuage_graph::auth::refresh(&endpoints, &app, &Secret::new("r".to_string())).unwrap_err();
    assert!(
        matches!(&e, GraphError::InvalidResponse { detail } if detail.contains("larger than 4 MiB")),
        "{e:?}"
    );
}
