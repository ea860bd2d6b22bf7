//! TLS for endpoints, with rustls.
//!
//! The handshake happens in our connector, not in tonic, so that a failed handshake (an
//! unknown CA, a missing client certificate) is, like a refused connection, proof that no
//! request was sent: it is reported at once, with the TLS reason, and never as an unknown
//! outcome.

use std::fmt;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::error::{Error, ErrorKind, Result};

/// TLS settings: the CA to trust, a client certificate for mutual TLS, and the name to
/// expect on the server's certificate.
///
/// Without a CA, the public web's roots are trusted. Endpoints written `https://` use TLS;
/// so do endpoints written without a scheme when TLS options are given.
#[derive(Clone, Default)]
pub struct TlsOptions {
    ca_pem: Option<Vec<u8>>,
    identity_pem: Option<(Vec<u8>, Vec<u8>)>,
    server_name: Option<String>,
    skip_verify: bool,
}

impl TlsOptions {
    /// TLS trusting the public web's roots, with no client certificate.
    pub fn new() -> Self {
        TlsOptions::default()
    }

    /// Trusts the CA certificates in this PEM text (instead of the public roots).
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Presents this client certificate (PEM, chain allowed) and its private key (PEM),
    /// for servers that require client certificates (mutual TLS).
    pub fn identity_pem(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.identity_pem = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Expects this name on every server certificate, instead of the endpoint's host.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Accepts any server certificate, whoever signed it and whatever name it carries
    /// (the handshake's signatures are still checked). For tests and for etcdctl's
    /// `--insecure-skip-tls-verify`: it gives up knowing who the server is, so anyone on
    /// the path can read and change the traffic.
    pub fn insecure_skip_verify(mut self, yes: bool) -> Self {
        self.skip_verify = yes;
        self
    }

    pub(crate) fn server_name_override(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// Builds the rustls configuration, checking every certificate and key parses.
    pub(crate) fn client_config(&self) -> Result<Arc<ClientConfig>> {
        let bad = |what: &str, e: &dyn fmt::Display| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("TLS options: {what}: {e}"),
            )
        };
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_pem {
            Some(pem) => {
                let mut found = 0;
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| bad("cannot read the CA PEM", &e))?;
                    roots
                        .add(cert)
                        .map_err(|e| bad("cannot use a CA certificate", &e))?;
                    found += 1;
                }
                if found == 0 {
                    return Err(bad("the CA PEM holds no certificate", &"empty"));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("no usable protocol version", &e))?
            .with_root_certificates(roots);
        let mut config = match &self.identity_pem {
            Some((cert_pem, key_pem)) => {
                let chain = CertificateDer::pem_slice_iter(cert_pem)
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| bad("cannot read the client certificate PEM", &e))?;
                if chain.is_empty() {
                    return Err(bad(
                        "the client certificate PEM holds no certificate",
                        &"empty",
                    ));
                }
                let key = PrivateKeyDer::from_pem_slice(key_pem)
                    .map_err(|e| bad("cannot read the client key PEM", &e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| bad("cannot use the client certificate", &e))?
            }
            None => builder.with_no_client_auth(),
        };
        if self.skip_verify {
            config
                .dangerous()
                .set_certificate_verifier(Arc::new(AnyCertificate(provider)));
        }
        // gRPC runs over HTTP/2 only.
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The verifier of [`TlsOptions::insecure_skip_verify`]: trusts every certificate, but
/// still checks that the server holds the certificate's key (the handshake signatures),
/// with the crypto provider's algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("TlsOptions")
            .field("ca", &self.ca_pem.as_ref().map(|_| "<pem>"))
            .field(
                "identity",
                &self.identity_pem.as_ref().map(|_| "<cert and key hidden>"),
            )
            .field("server_name", &self.server_name)
            .field("insecure_skip_verify", &self.skip_verify)
            .finish()
    }
}

/// What the connector needs to make a TLS connection to one endpoint.
#[derive(Clone)]
pub(crate) struct TlsConnect {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

impl TlsConnect {
    pub fn new(config: Arc<ClientConfig>, host: &str) -> Result<TlsConnect> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(host.to_string()).map_err(|e| {
            Error::new(
                ErrorKind::InvalidEndpoint,
                format!("{host:?} cannot be checked against a TLS certificate: {e}"),
            )
        })?;
        Ok(TlsConnect {
            config,
            server_name,
        })
    }
}
