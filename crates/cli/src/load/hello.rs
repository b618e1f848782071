//! A bare hyper 1 HTTP/1.1 server answering every request `200 hello`: the ceiling
//! that the real endpoints are measured against in the same run on the same machine.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(clap::Args, Debug)]
pub struct HelloArgs {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: String,
    /// Stop after this many seconds; without it, run until killed.
    #[arg(long)]
    pub seconds: Option<u64>,
}

pub async fn run(args: HelloArgs) -> Result<(), String> {
    let listener = TcpListener::bind(&args.addr).await.map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Benchmark scripts read this line to learn the port; flush so a pipe sees it now.
    println!("listening on http://{addr}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let serve = async {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                // E.g. out of file descriptors: back off instead of spinning.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_request: Request<hyper::body::Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    };
    match args.seconds {
        Some(secs) => {
            let _ = tokio::time::timeout(Duration::from_secs(secs), serve).await;
        }
        None => {
            tokio::select! {
                _ = serve => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
    }
    Ok(())
}
