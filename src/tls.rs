//! rustls for both sides: the client side that connects to Redis nodes, the server side of the
//! HTTP endpoints, and the certificate reading and crypto provider they share.
//!
//! slotwatch ships no public root certificates: Redis servers almost always present
//! certificates from a private CA, and the endpoints' clients are configured explicitly.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};

use crate::config::TlsConfig;

/// Why TLS settings could not be turned into a working configuration. Each variant names the
/// setting (`key`) so that the caller can say which flag or config key is wrong.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or held nothing usable.
    #[error("{key}: {path}: {message}")]
    File {
        /// The setting that names the file, e.g. `ca_file`.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A setting is well-formed but unusable (versions, client auth type, mismatched key).
    #[error("{key}: {message}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn invalid(key: &'static str, message: impl ToString) -> TlsError {
    TlsError::Invalid {
        key,
        message: message.to_string(),
    }
}

/// The one crypto provider slotwatch uses (ring), so every config agrees on algorithms.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every PEM certificate in `path`; an error names the setting and the file, and an
/// empty file is an error rather than an empty list.
pub fn read_certs(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_error = |message: String| TlsError::File {
        key,
        path: path.to_owned(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| file_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error("no PEM certificates found".into()));
    }
    Ok(certs)
}

/// Reads a PEM private key.
pub fn read_key(key: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        key,
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn root_store(key: &'static str, path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(key, path)? {
        roots.add(cert).map_err(|e| TlsError::File {
            key,
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// The client configuration for connections to Redis. Without `ca_file`, only
/// `insecure_skip_verify` can make a handshake succeed.
pub fn client_config(t: &TlsConfig) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("tls", e))?;
    let builder = if t.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny::new(provider, false)))
    } else {
        let roots = match &t.ca_file {
            Some(ca) => root_store("ca_file", ca)?,
            None => RootCertStore::empty(),
        };
        builder.with_root_certificates(roots)
    };
    match (&t.cert_file, &t.key_file) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(read_certs("cert_file", cert)?, read_key("key_file", key)?)
            .map_err(|e| invalid("cert_file", e)),
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// A client configuration that accepts any server certificate, for probing the process's own
/// loopback listener (`slotwatch healthcheck`).
pub fn probe_client_config() -> Result<ClientConfig, TlsError> {
    let provider = provider();
    Ok(ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("tls", e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny::new(provider, false)))
        .with_no_client_auth())
}

/// How the HTTP endpoints treat client certificates, as exporter-toolkit names the modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    NoClientCert,
    /// One is asked for but neither required nor verified.
    RequestClientCert,
    /// One is required but not verified.
    RequireAnyClientCert,
    /// One is verified against the client CA if given.
    VerifyClientCertIfGiven,
    /// One is required and verified against the client CA.
    RequireAndVerifyClientCert,
}

impl std::str::FromStr for ClientAuth {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(match name {
            "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            "RequireAnyClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            other => {
                return Err(format!(
                    "expected NoClientCert, RequestClientCert, RequireAnyClientCert, \
                     VerifyClientCertIfGiven or RequireAndVerifyClientCert, found {other:?}"
                ));
            }
        })
    }
}

/// What the server side needs: certificate and key, client certificate policy, versions.
#[derive(Debug, Clone)]
pub struct ServerSettings<'a> {
    /// PEM certificate chain.
    pub cert: &'a Path,
    /// PEM private key.
    pub key: &'a Path,
    /// Client certificate policy.
    pub client_auth: ClientAuth,
    /// CA that signs client certificates (needed by the verifying modes).
    pub client_ca: Option<&'a Path>,
    /// Lowest TLS version, e.g. `TLS12`.
    pub min_version: Option<&'a str>,
    /// Highest TLS version, e.g. `TLS13`.
    pub max_version: Option<&'a str>,
}

/// Protocol versions rustls supports, as an ordinal (TLS 1.2 = 2, TLS 1.3 = 3).
fn version(key: &'static str, name: &str) -> Result<u8, TlsError> {
    match name {
        "TLS12" => Ok(2),
        "TLS13" => Ok(3),
        "TLS10" | "TLS11" => Err(invalid(
            key,
            format!("{name} is not supported; use TLS12 or TLS13"),
        )),
        other => Err(invalid(
            key,
            format!("expected TLS12 or TLS13, found {other:?}"),
        )),
    }
}

/// The server configuration of the HTTP endpoints (HTTP/1.1 only).
pub fn server_config(s: &ServerSettings<'_>) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let min = version("min_version", s.min_version.unwrap_or("TLS12"))?;
    let max = version("max_version", s.max_version.unwrap_or("TLS13"))?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(2, &rustls::version::TLS12), (3, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(n, _)| (min..=max).contains(n))
            .map(|(_, v)| v)
            .collect();
    if versions.is_empty() {
        return Err(invalid("min_version", "min_version is above max_version"));
    }
    let chain = read_certs("cert_file", s.cert)?;
    let key = read_key("key_file", s.key)?;
    let client_roots = || -> Result<Arc<RootCertStore>, TlsError> {
        let ca = s.client_ca.ok_or_else(|| {
            invalid(
                "client_ca_file",
                format!("client_auth_type {:?} needs client_ca_file", s.client_auth),
            )
        })?;
        Ok(Arc::new(root_store("client_ca_file", ca)?))
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| invalid("min_version", e))?;
    let builder = match s.client_auth {
        ClientAuth::NoClientCert => builder.with_no_client_auth(),
        ClientAuth::RequireAndVerifyClientCert => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(client_roots()?, provider.clone())
                .build()
                .map_err(|e| invalid("client_ca_file", e))?,
        ),
        ClientAuth::VerifyClientCertIfGiven => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(client_roots()?, provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(|e| invalid("client_ca_file", e))?,
        ),
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => builder
            .with_client_cert_verifier(Arc::new(AcceptAny::new(
                provider.clone(),
                s.client_auth == ClientAuth::RequireAnyClientCert,
            ))),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| invalid("key_file", format!("certificate and key do not match: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts any peer certificate but still checks handshake signatures: the server side of
/// `insecure_skip_verify` and of the loopback probe, and the client side of Go's
/// `RequestClientCert`/`RequireAnyClientCert`.
#[derive(Debug)]
struct AcceptAny {
    provider: Arc<CryptoProvider>,
    /// For client certificates: whether one must be presented.
    mandatory: bool,
}

impl AcceptAny {
    fn new(provider: Arc<CryptoProvider>, mandatory: bool) -> AcceptAny {
        AcceptAny {
            provider,
            mandatory,
        }
    }

    fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

impl ClientCertVerifier for AcceptAny {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}
