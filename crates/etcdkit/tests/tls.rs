//! TLS and mutual TLS against real etcd members serving https, with certificates made
//! at run time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::bounded;
use etcdkit::{ErrorKind, TlsOptions};
use etcdkit_testkit::{ClientTls, EtcdCluster, EtcdServer};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType,
};

/// A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn make_ca() -> (CertificateParams, KeyPair, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "etcdkit test CA");
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    (params, key, pem)
}

fn make_pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let (ca_params, ca_key, ca_pem) = make_ca();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    server
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();

    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    client
        .distinguished_name
        .push(rcgen::DnType::CommonName, "etcdkit-test-client");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().unwrap();
    let client_cert = client.signed_by(&client_key, &issuer).unwrap();

    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("ca.pem", &ca_pem);
    write("server.pem", &server_cert.pem());
    write("server-key.pem", &server_key.serialize_pem());
    Pki {
        dir,
        ca_pem,
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

async fn tls_server(pki: &Pki, client_cert_auth: bool) -> EtcdServer {
    bounded(
        EtcdServer::builder()
            .client_tls(ClientTls {
                cert_file: pki.path("server.pem"),
                key_file: pki.path("server-key.pem"),
                trusted_ca_file: client_cert_auth.then(|| pki.path("ca.pem")),
                client_cert_auth,
            })
            .start_server(),
    )
    .await
    .unwrap()
}

fn exists(p: &Path) -> bool {
    p.exists()
}

#[tokio::test]
async fn tls_with_the_right_ca_works_on_an_ip_address_endpoint() {
    let pki = make_pki();
    assert!(exists(&pki.path("ca.pem")));
    let etcd = tls_server(&pki, false).await;
    let endpoint = etcd.endpoint();
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{endpoint}");
    let client = bounded(
        common::options(vec![endpoint])
            .tls(TlsOptions::new().ca_pem(pki.ca_pem.clone()))
            .connect(),
    )
    .await
    .unwrap();
    bounded(client.kv().put("tls/a", "secret")).await.unwrap();
    let got = bounded(client.kv().get("tls/a")).await.unwrap();
    assert_eq!(got.first().unwrap().value().as_ref(), b"secret");
}

#[tokio::test]
async fn endpoints_without_a_scheme_use_tls_when_it_is_configured() {
    let pki = make_pki();
    let etcd = tls_server(&pki, false).await;
    let bare = etcd.endpoint().trim_start_matches("https://").to_string();
    let client = bounded(
        common::options(vec![bare])
            .tls(TlsOptions::new().ca_pem(pki.ca_pem.clone()))
            .connect(),
    )
    .await
    .unwrap();
    bounded(client.kv().put("tls/b", "1")).await.unwrap();
}

#[tokio::test]
async fn mutual_tls_with_a_client_certificate_works() {
    let pki = make_pki();
    let etcd = tls_server(&pki, true).await;
    let client = bounded(
        common::options(vec![etcd.endpoint()])
            .tls(
                TlsOptions::new()
                    .ca_pem(pki.ca_pem.clone())
                    .identity_pem(pki.client_cert_pem.clone(), pki.client_key_pem.clone()),
            )
            .connect(),
    )
    .await
    .unwrap();
    bounded(client.kv().put("mtls/a", "1")).await.unwrap();
}

#[tokio::test]
async fn a_missing_client_certificate_gives_a_clear_tls_error() {
    let pki = make_pki();
    let etcd = tls_server(&pki, true).await;
    let err = bounded(
        common::options(vec![etcd.endpoint()])
            .tls(TlsOptions::new().ca_pem(pki.ca_pem.clone()))
            .connect(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let text = err.to_string();
    assert!(text.contains("TLS"), "{err}");
    assert!(text.to_lowercase().contains("certificate"), "{err}");
}

#[tokio::test]
async fn a_wrong_ca_gives_a_clear_tls_error() {
    let pki = make_pki();
    let etcd = tls_server(&pki, false).await;
    let (_, _, other_ca) = make_ca();
    let err = bounded(
        common::options(vec![etcd.endpoint()])
            .tls(TlsOptions::new().ca_pem(other_ca))
            .connect(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("TLS handshake failed"), "{err}");
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn https_endpoints_without_tls_options_trust_public_roots_and_fail_cleanly() {
    let pki = make_pki();
    let etcd = tls_server(&pki, false).await;
    // Our test CA is not a public root: a clear handshake error, not a hang.
    let err = bounded(common::options(vec![etcd.endpoint()]).connect())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TLS handshake failed"), "{err}");
}

#[tokio::test]
async fn garbage_pem_is_refused_with_a_clear_error() {
    let err = bounded(
        common::options(vec!["https://127.0.0.1:1".into()])
            .tls(TlsOptions::new().ca_pem("not a certificate"))
            .connect(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("CA"), "{err}");
}

/// A three-member cluster whose client URLs require client certificates.
async fn mtls_cluster(pki: &Pki) -> EtcdCluster {
    bounded(
        EtcdCluster::builder()
            .members(3)
            .client_tls(ClientTls {
                cert_file: pki.path("server.pem"),
                key_file: pki.path("server-key.pem"),
                trusted_ca_file: Some(pki.path("ca.pem")),
                client_cert_auth: true,
            })
            .start(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_mutual_tls_three_member_cluster_accepts_the_right_certificates_only() {
    let pki = make_pki();
    let cluster = mtls_cluster(&pki).await;
    let endpoints = cluster.endpoints();
    assert_eq!(endpoints.len(), 3);
    assert!(endpoints.iter().all(|e| e.starts_with("https://")));
    let right = || {
        TlsOptions::new()
            .ca_pem(pki.ca_pem.clone())
            .identity_pem(pki.client_cert_pem.clone(), pki.client_key_pem.clone())
    };

    // The right CA and a client certificate: every member serves, and all agree.
    let client = bounded(common::options(endpoints.clone()).tls(right()).connect())
        .await
        .unwrap();
    bounded(client.kv().put("mtls3/a", "1")).await.unwrap();
    let members = bounded(client.cluster().member_list()).await.unwrap();
    assert_eq!(members.members().len(), 3);
    for endpoint in &endpoints {
        let one = bounded(
            common::options(vec![endpoint.clone()])
                .tls(right())
                .connect(),
        )
        .await
        .unwrap();
        let got = bounded(one.kv().get("mtls3/a")).await.unwrap();
        assert_eq!(got.first().unwrap().value().as_ref(), b"1", "{endpoint}");
    }

    // No client certificate: a clear TLS error from every member, not a hang.
    let err = bounded(
        common::options(endpoints.clone())
            .tls(TlsOptions::new().ca_pem(pki.ca_pem.clone()))
            .connect(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("TLS"), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    // A CA that did not sign the servers' certificates: a clear handshake error.
    let (_, _, other_ca) = make_ca();
    let err = bounded(
        common::options(endpoints.clone())
            .tls(
                TlsOptions::new()
                    .ca_pem(other_ca)
                    .identity_pem(pki.client_cert_pem.clone(), pki.client_key_pem.clone()),
            )
            .connect(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("TLS handshake failed"), "{err}");
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
}
