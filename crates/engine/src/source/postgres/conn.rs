//! Connecting to a PostgreSQL server from the connection string a person
//! pastes (Supabase shows one), the way libpq reads it: `postgresql://` or
//! `postgres://`, `sslmode` (`disable`, `prefer`, `require`, `verify-ca`,
//! `verify-full`) and `sslrootcert`, `require` by default for any host that
//! is not this machine. The password never stays in what is stored or
//! shown: [`ConnSpec::parse`] hands it back apart, and [`ConnSpec`]'s
//! display form has none.
//!
//! TLS is rustls through `tokio-postgres-rustls`. libpq's `require` and
//! `verify-ca` check less than rustls does by default (no certificate, or
//! no host name): those two verifiers are written here, on rustls's own
//! verification functions.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::error::{Error, Result};

/// How a connection uses TLS (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// How much the connection protects: a password kept for one mode is
    /// only sent over a mode of at least its rank.
    pub fn rank(self) -> u8 {
        match self {
            SslMode::Disable => 0,
            SslMode::Prefer => 1,
            SslMode::Require => 2,
            SslMode::VerifyCa => 3,
            SslMode::VerifyFull => 4,
        }
    }

    fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where and how to connect, without the password.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConnSpec {
    /// A host name, an IP address, or a folder holding the server's socket.
    pub host: String,
    pub port: u16,
    pub user: String,
    pub dbname: String,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// The schemas to back up (`schema=a,b`, as Prisma's URLs name one);
    /// empty: every schema but the system's and the platform's.
    #[serde(default)]
    pub schemas: Vec<String>,
}

/// The parameters of a connection string that are understood; any other
/// is refused rather than silently ignored.
const PARAMS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "connect_timeout",
    "host",
    "port",
    "user",
    "dbname",
    "application_name",
    "schema",
];

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

impl ConnSpec {
    /// Reads a connection string; returns the spec and, apart, the password
    /// it held (to go to the keychain, never to a file).
    pub fn parse(s: &str) -> Result<(ConnSpec, Option<String>)> {
        let s = s.trim();
        let url = url::Url::parse(s).map_err(|e| {
            invalid(format!(
                "that is not a PostgreSQL connection string ({e}). It looks like postgresql://USER:PASSWORD@HOST:5432/DATABASE"
            ))
        })?;
        if !matches!(url.scheme(), "postgresql" | "postgres") {
            return Err(invalid(format!(
                "a PostgreSQL connection string starts with postgresql://, not {}://",
                url.scheme()
            )));
        }
        let decode = |v: &str| -> Result<String> {
            percent_decode(v)
                .ok_or_else(|| invalid("the connection string holds a badly escaped character (%)"))
        };
        let mut host = match url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => decode(&h.to_string())?,
            None => String::new(),
        };
        if host.contains(',') {
            return Err(invalid(
                "a connection string with several hosts is not supported: give one host",
            ));
        }
        let mut port = url.port().unwrap_or(5432);
        let mut user = decode(url.username())?;
        let password = url.password().map(decode).transpose()?;
        let mut dbname = decode(url.path().trim_start_matches('/'))?;
        let mut sslmode = None;
        let mut sslrootcert = None;
        let mut connect_timeout = DEFAULT_TIMEOUT;
        let mut schemas: Vec<String> = Vec::new();
        for (k, v) in url.query_pairs() {
            let v = v.into_owned();
            match k.as_ref() {
                "sslmode" => {
                    sslmode = Some(SslMode::parse(&v).ok_or_else(|| {
                        invalid(format!(
                            "sslmode '{v}' is not one of disable, prefer, require, verify-ca, verify-full"
                        ))
                    })?)
                }
                "sslrootcert" => sslrootcert = Some(PathBuf::from(v)),
                "connect_timeout" => {
                    let secs: u64 = v
                        .parse()
                        .map_err(|_| invalid(format!("connect_timeout '{v}' is not a number of seconds")))?;
                    connect_timeout = Duration::from_secs(secs.clamp(1, 300));
                }
                "host" => host = v,
                "port" => port = v.parse().map_err(|_| invalid(format!("port '{v}' is not a port number")))?,
                "user" => user = v,
                "dbname" => dbname = v,
                "application_name" => {}
                "schema" => {
                    for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        if name.len() > 63 || name.contains('\0') {
                            return Err(invalid(format!(
                                "'{}' cannot name a schema: PostgreSQL names are at most 63 bytes",
                                crate::document::shown(name)
                            )));
                        }
                        if !schemas.iter().any(|s| s == name) {
                            schemas.push(name.to_string());
                        }
                    }
                }
                other => {
                    return Err(invalid(format!(
                        "the connection string parameter '{other}' is not supported (Nuage understands {})",
                        PARAMS.join(", ")
                    )));
                }
            }
        }
        if host.is_empty() {
            host = "/var/run/postgresql".into();
        }
        // Checking the chain against every public root, without the host
        // name, would accept anyone holding any public certificate.
        if sslmode == Some(SslMode::VerifyCa) && sslrootcert.is_none() {
            return Err(invalid(
                "sslmode=verify-ca needs sslrootcert=FILE (the server's CA certificate); with the system's roots use sslmode=verify-full",
            ));
        }
        if user.is_empty() {
            return Err(invalid(
                "the connection string names no user: postgresql://USER@HOST/DATABASE",
            ));
        }
        if dbname.is_empty() {
            dbname = user.clone();
        }
        let spec = ConnSpec {
            sslmode: sslmode.unwrap_or(if is_local(&host) {
                SslMode::Prefer
            } else {
                SslMode::Require
            }),
            host,
            port,
            user,
            dbname,
            sslrootcert,
            connect_timeout,
            schemas,
        };
        Ok((spec, password.filter(|p| !p.is_empty())))
    }

    /// Connects, with `password` when the server asks for one.
    pub fn connect(&self, password: Option<&str>) -> Result<postgres::Client> {
        let mut c = postgres::Config::new();
        c.user(&self.user)
            .dbname(&self.dbname)
            .port(self.port)
            .connect_timeout(self.connect_timeout)
            .application_name("nuage");
        if self.host.starts_with('/') {
            c.host_path(&self.host);
        } else {
            c.host(&self.host);
        }
        if let Some(p) = password {
            c.password(p);
        }
        // A socket is this machine: libpq never uses TLS on one.
        let mode = if self.host.starts_with('/') {
            SslMode::Disable
        } else {
            self.sslmode
        };
        let r = match mode {
            SslMode::Disable => c
                .ssl_mode(postgres::config::SslMode::Disable)
                .connect(postgres::NoTls),
            mode => {
                c.ssl_mode(if mode == SslMode::Prefer {
                    postgres::config::SslMode::Prefer
                } else {
                    postgres::config::SslMode::Require
                });
                c.connect(tokio_postgres_rustls::MakeRustlsConnect::new(self.tls()?))
            }
        };
        r.map_err(|e| self.connect_error(&e))
    }

    /// Asks the server to cancel what the connection of `token` runs, over
    /// the same kind of channel the connection uses.
    pub fn cancel(&self, token: &postgres::CancelToken) {
        let r = if self.host.starts_with('/') || self.sslmode == SslMode::Disable {
            token.cancel_query(postgres::NoTls)
        } else {
            match self.tls() {
                Ok(tls) => token.cancel_query(tokio_postgres_rustls::MakeRustlsConnect::new(tls)),
                Err(_) => return,
            }
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, "could not cancel a statement");
        }
    }

    /// The rustls configuration for this spec's `sslmode`.
    fn tls(&self) -> Result<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = self.roots()?;
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?;
        let verify_ca = || -> Result<Arc<dyn ServerCertVerifier>> {
            let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots.clone()),
                provider.clone(),
            )
            .build()
            .map_err(|e| invalid(format!("the root certificates cannot be used: {e}")))?;
            Ok(Arc::new(ChainOnly { inner }))
        };
        let verifier: Arc<dyn ServerCertVerifier> = match self.sslmode {
            SslMode::VerifyFull => {
                return Ok(builder.with_root_certificates(roots).with_no_client_auth());
            }
            SslMode::VerifyCa => verify_ca()?,
            // libpq: with a root certificate given, `require` verifies the
            // chain as `verify-ca` does; without one it encrypts only.
            SslMode::Require if self.sslrootcert.is_some() => verify_ca()?,
            _ => Arc::new(EncryptOnly(provider.clone())),
        };
        Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }

    /// `sslrootcert`'s certificates, else the system's.
    fn roots(&self) -> Result<RootCertStore> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = RootCertStore::empty();
        match &self.sslrootcert {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                    .map_err(|e| {
                        invalid(format!(
                            "the root certificate {} cannot be read: {e}. Download it again (Supabase: Database settings, SSL configuration).",
                            path.display()
                        ))
                    })?;
                for c in certs {
                    roots
                        .add(c)
                        .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
                }
            }
            None => {
                for c in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(c);
                }
            }
        }
        Ok(roots)
    }

    /// A failed connection, in words that say what to do.
    fn connect_error(&self, e: &postgres::Error) -> Error {
        let at = format!("{}:{}", self.host, self.port);
        let msg = match e.as_db_error() {
            Some(db) => match db.code().code() {
                "28P01" => format!(
                    "the server at {at} refused the password of user '{}'. Check the password (Supabase: Database settings, reset it there if needed).",
                    self.user
                ),
                "3D000" => format!("the server at {at} has no database '{}'.", self.dbname),
                "28000"
                    if db.message().contains("no encryption")
                        || db.message().contains("SSL off") =>
                {
                    format!(
                        "the server at {at} only accepts encrypted connections: use sslmode=require (or verify-full)."
                    )
                }
                "28000" => format!(
                    "the server at {at} refused user '{}': {}",
                    self.user,
                    db.message()
                ),
                code => format!(
                    "the server at {at} refused the connection ({code}: {})",
                    db.message()
                ),
            },
            None => {
                let text = e.to_string();
                let source = std::error::Error::source(e)
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                if text.contains("password missing") {
                    format!(
                        "the server at {at} asks user '{}' for a password, and none was given: put it in the connection string, or give it apart (Nuage keeps it in the keychain).",
                        self.user
                    )
                } else if source.contains("Network is unreachable")
                    || source.contains("os error 101")
                {
                    format!(
                        "{at} cannot be reached: this host may have an IPv6 address only, and this network has no IPv6. For Supabase, use the session pooler's address (Connect → Session pooler), which has IPv4."
                    )
                } else if text.contains("server does not support TLS")
                    || source.contains("server does not support TLS")
                {
                    format!(
                        "the server at {at} does not offer TLS, and sslmode={} requires it.",
                        self.sslmode.as_str()
                    )
                } else if source.contains("certificate") || text.contains("certificate") {
                    format!(
                        "the server at {at} presented a certificate that cannot be trusted ({source}). Give its CA with sslrootcert=FILE."
                    )
                } else if text.contains("timed out") || source.contains("timed out") {
                    format!(
                        "{at} did not answer within {} s.",
                        self.connect_timeout.as_secs()
                    )
                } else if source.contains("refused") {
                    format!("nothing answers at {at}: check the host and port.")
                } else {
                    format!(
                        "cannot connect to {at}: {text}{}",
                        if source.is_empty() {
                            String::new()
                        } else {
                            format!(" ({source})")
                        }
                    )
                }
            }
        };
        Error::Invalid(msg)
    }
}

/// The connection string without its password, as stored and shown.
impl fmt::Display for ConnSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Percent-encoding, everything but unreserved characters (a
        // space is %20, never `+`, which would read back as a plus).
        let enc = |s: &str| utf8_percent_encode(s, COMPONENT).to_string();
        if self.host.starts_with('/') {
            write!(
                f,
                "postgresql:///{}?host={}&user={}",
                enc(&self.dbname),
                enc(&self.host),
                enc(&self.user)
            )?;
            if self.port != 5432 {
                write!(f, "&port={}", self.port)?;
            }
            write!(f, "&sslmode={}", self.sslmode.as_str())?;
        } else {
            let host = if self.host.contains(':') {
                format!("[{}]", self.host)
            } else {
                self.host.clone()
            };
            write!(
                f,
                "postgresql://{}@{host}:{}/{}?sslmode={}",
                enc(&self.user),
                self.port,
                enc(&self.dbname),
                self.sslmode.as_str()
            )?;
        }
        if let Some(c) = &self.sslrootcert {
            write!(f, "&sslrootcert={}", enc(&c.to_string_lossy()))?;
        }
        if self.connect_timeout != DEFAULT_TIMEOUT {
            write!(f, "&connect_timeout={}", self.connect_timeout.as_secs())?;
        }
        if !self.schemas.is_empty() {
            let names: Vec<String> = self.schemas.iter().map(|s| enc(s)).collect();
            write!(f, "&schema={}", names.join(","))?;
        }
        Ok(())
    }
}

/// What the stored form percent-encodes in a name: everything but
/// unreserved characters (a space is `%20`, never `+`, which would read
/// back as a plus).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-decoding of a URL component (the `url` crate leaves user,
/// password and path encoded); a `%` not followed by two hex digits is
/// refused, as libpq refuses it.
fn percent_decode(s: &str) -> Option<String> {
    let well_formed = s.split('%').skip(1).all(|rest| {
        rest.as_bytes()
            .get(..2)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// This machine: a socket folder, `localhost`, or a loopback address.
fn is_local(host: &str) -> bool {
    host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `verify-ca`: the chain must lead to a trusted root; the host name is
/// not checked (libpq's meaning).
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Ok(v) => Ok(v),
            // The chain is good; only the name differs.
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            Err(e) => Err(e),
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a root certificate: encrypted, the
/// certificate not checked (libpq's meaning); the handshake signatures are
/// still verified, so the session key belongs to whoever holds the
/// certificate's key.
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supabase_strings_parse_with_the_password_apart() {
        let (s, pw) = ConnSpec::parse(
            "postgresql://postgres.abcdefghij:p%40ss%2Fw0rd@aws-0-eu-west-1.pooler.supabase.com:5432/postgres",
        )
        .unwrap();
        assert_eq!(pw.as_deref(), Some("p@ss/w0rd"));
        assert_eq!(s.user, "postgres.abcdefghij");
        assert_eq!(s.host, "aws-0-eu-west-1.pooler.supabase.com");
        assert_eq!((s.port, s.dbname.as_str()), (5432, "postgres"));
        assert_eq!(
            s.sslmode,
            SslMode::Require,
            "require by default off this machine"
        );
        let shown = s.to_string();
        assert!(
            !shown.contains("p%40ss") && !shown.contains("w0rd"),
            "{shown}"
        );
        assert_eq!(
            shown,
            "postgresql://postgres.abcdefghij@aws-0-eu-west-1.pooler.supabase.com:5432/postgres?sslmode=require"
        );
        // What is shown parses back to the same spec.
        assert_eq!(ConnSpec::parse(&shown).unwrap(), (s, None));
        // Names with spaces and other characters come back as they were.
        let (s, _) = ConnSpec::parse("postgresql://my%20user@h/my%20db+1").unwrap();
        assert_eq!((s.user.as_str(), s.dbname.as_str()), ("my user", "my db+1"));
        assert_eq!(ConnSpec::parse(&s.to_string()).unwrap().0, s);
    }

    #[test]
    fn local_servers_prefer_tls_and_every_form_libpq_reads_is_read() {
        let (s, _) = ConnSpec::parse("postgres://app@localhost/shop").unwrap();
        assert_eq!((s.sslmode, s.port), (SslMode::Prefer, 5432));
        let (s, _) = ConnSpec::parse("postgresql://app@[::1]:6543/shop?sslmode=verify-full&sslrootcert=/etc/ca.crt&connect_timeout=3").unwrap();
        assert_eq!(s.host, "::1");
        assert_eq!(s.sslmode, SslMode::VerifyFull);
        assert_eq!(
            s.sslrootcert.as_deref(),
            Some(std::path::Path::new("/etc/ca.crt"))
        );
        assert_eq!(s.connect_timeout, Duration::from_secs(3));
        assert_eq!(ConnSpec::parse(&s.to_string()).unwrap().0, s);
        let (s, _) =
            ConnSpec::parse("postgresql:///shop?host=/var/run/postgresql&user=app").unwrap();
        assert_eq!(
            (s.host.as_str(), s.user.as_str(), s.dbname.as_str()),
            ("/var/run/postgresql", "app", "shop")
        );
        assert_eq!(ConnSpec::parse(&s.to_string()).unwrap().0, s);
        let (s, _) = ConnSpec::parse("postgresql://app@db.example.com").unwrap();
        assert_eq!(s.dbname, "app", "the database defaults to the user's name");
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_not_ignored() {
        for (bad, says) in [
            ("mysql://u@h/db", "starts with postgresql://"),
            ("postgresql://u@h/db?sslmode=verify", "is not one of"),
            (
                "postgresql://u@h/db?gssencmode=require",
                "'gssencmode' is not supported",
            ),
            ("postgresql://u@h1,h2/db", "several hosts"),
            ("postgresql://h/db", "names no user"),
            ("postgresql://u@h/db?sslmode=verify-ca", "needs sslrootcert"),
            ("not a url", "not a PostgreSQL connection string"),
        ] {
            let e = ConnSpec::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
