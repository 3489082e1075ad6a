//! The one crypto library of the process: *ring*, for TLS (rustls, under octocrab, reqwest and the AWS
//! SDK's HTTP client) and for the JWT signatures of [`crate::oidc`] (jsonwebtoken, through the provider
//! below). aws-lc-rs was the library before: on x86_64 it links AWS-LC's AVX-512 AES-GCM (700 KB of
//! machine code by itself) and kept the image over its 16 MB budget (BENCHMARKS.md "Back under budget:
//! one crypto library, ring").
//!
//! jsonwebtoken picks its crypto through a process-wide [`jsonwebtoken::crypto::CryptoProvider`]; it ships
//! providers for aws-lc-rs and RustCrypto only, so [`JWT`] is one over *ring*. It covers what stevedore
//! uses — RS256 verification of the GitHub OIDC token (`oidc::verify` refuses any other `alg` before it
//! gets here) — and what the tests sign with (RS256); every other algorithm is refused as
//! `InvalidAlgorithm`, never a panic.

use std::sync::Arc;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result, new_error};
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::signature::{self as sig, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::{digest, rand, signature};

/// The TLS provider every client of the process uses.
#[must_use]
pub fn tls_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs *ring* as the process's default for rustls and for jsonwebtoken. Idempotent: a provider
/// already installed (by an earlier call) stays.
pub fn install() {
    let _already = rustls::crypto::ring::default_provider().install_default();
    let _already = JWT.install_default();
}

/// jsonwebtoken's crypto over *ring*.
pub static JWT: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: rsa_components_from_private_key,
        rsa_pub_components_from_public_key: |_| Err(new_error(ErrorKind::InvalidAlgorithm)),
        ec_pub_components_from_private_key: |_, _| Err(new_error(ErrorKind::InvalidAlgorithm)),
        ed_pub_components_from_private_key: |_, _| Err(new_error(ErrorKind::InvalidAlgorithm)),
        compute_digest,
    },
};

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    match (alg, key.family()) {
        (Algorithm::RS256, AlgorithmFamily::Rsa) => {
            let pair = signature::RsaKeyPair::from_der(key.as_bytes())
                .map_err(|e| new_error(ErrorKind::InvalidRsaKey(e.to_string())))?;
            Ok(Box::new(Rs256Signer(pair)))
        }
        (Algorithm::RS256, _) => Err(new_error(ErrorKind::InvalidKeyFormat)),
        _ => Err(new_error(ErrorKind::InvalidAlgorithm)),
    }
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    match (alg, key.family()) {
        (Algorithm::RS256, AlgorithmFamily::Rsa) => Ok(Box::new(Rs256Verifier(key.clone()))),
        (Algorithm::RS256, _) => Err(new_error(ErrorKind::InvalidKeyFormat)),
        _ => Err(new_error(ErrorKind::InvalidAlgorithm)),
    }
}

struct Rs256Signer(signature::RsaKeyPair);

impl Signer<Vec<u8>> for Rs256Signer {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, sig::Error> {
        let mut out = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &rand::SystemRandom::new(),
                msg,
                &mut out,
            )
            .map_err(|_| sig::Error::new())?;
        Ok(out)
    }
}

impl JwtSigner for Rs256Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

/// RSASSA-PKCS1-v1_5 with SHA-256, keys of 2048 to 8192 bits.
struct Rs256Verifier(DecodingKey);

impl Verifier<Vec<u8>> for Rs256Verifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), sig::Error> {
        let alg = &signature::RSA_PKCS1_2048_8192_SHA256;
        match self.0.kind() {
            DecodingKeyKind::SecretOrDer(der) => {
                signature::UnparsedPublicKey::new(alg, der).verify(msg, signature)
            }
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                signature::RsaPublicKeyComponents { n, e }.verify(alg, msg, signature)
            }
        }
        .map_err(|_| sig::Error::new())
    }
}

impl JwtVerifier for Rs256Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

fn rsa_components_from_private_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let pair = signature::RsaKeyPair::from_der(der)
        .map_err(|e| new_error(ErrorKind::InvalidRsaKey(e.to_string())))?;
    let public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok((public.n, public.e))
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
    let alg = match hash {
        ThumbprintHash::SHA256 => &digest::SHA256,
        ThumbprintHash::SHA384 => &digest::SHA384,
        ThumbprintHash::SHA512 => &digest::SHA512,
        _ => return Err(new_error(ErrorKind::InvalidAlgorithm)),
    };
    Ok(digest::digest(alg, data).as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &[u8] = include_bytes!("../../tests/it/helpers/keys/oidc-issuer.pem");

    #[test]
    fn an_rs256_token_signed_here_verifies_with_its_jwk_and_a_changed_one_does_not() {
        install();
        let key = EncodingKey::from_rsa_pem(PEM).unwrap();
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
        let dec = DecodingKey::from_jwk(&jwk).unwrap();
        let header = jsonwebtoken::Header::new(Algorithm::RS256);
        let claims =
            serde_json::json!({"sub": "repo:o/r:ref:refs/heads/main", "exp": 4_000_000_000u64});
        let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
        v.required_spec_claims.clear();
        v.validate_aud = false;
        let got = jsonwebtoken::decode::<serde_json::Value>(&token, &dec, &v).unwrap();
        assert_eq!(got.claims["sub"], "repo:o/r:ref:refs/heads/main");
        // One byte of the claims changed: the signature no longer holds.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = jsonwebtoken::encode(
            &header,
            &serde_json::json!({"sub": "repo:o/r:environment:production", "exp": 4_000_000_000u64}),
            &key,
        )
        .unwrap();
        parts[1] = forged.split('.').nth(1).unwrap().to_owned();
        let err =
            jsonwebtoken::decode::<serde_json::Value>(&parts.join("."), &dec, &v).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidSignature);
    }

    #[test]
    fn algorithms_stevedore_never_reads_are_refused_not_a_panic() {
        install();
        let key = EncodingKey::from_rsa_pem(PEM).unwrap();
        for alg in [
            Algorithm::HS256,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ] {
            let err =
                jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &"{}", &key).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::InvalidAlgorithm, "{alg:?}");
            assert!((JWT.verifier_factory)(&alg, &DecodingKey::from_secret(b"k")).is_err());
        }
        // An HMAC key is no RSA key, to sign or to verify with.
        let hmac = EncodingKey::from_secret(b"k");
        let err = (JWT.signer_factory)(&Algorithm::RS256, &hmac)
            .err()
            .unwrap();
        assert_eq!(err.kind(), &ErrorKind::InvalidKeyFormat);
        let err = (JWT.verifier_factory)(&Algorithm::RS256, &DecodingKey::from_secret(b"k"))
            .err()
            .unwrap();
        assert_eq!(err.kind(), &ErrorKind::InvalidKeyFormat);
        let err = (JWT.verifier_factory)(&Algorithm::HS256, &DecodingKey::from_secret(b"k"))
            .err()
            .unwrap();
        assert_eq!(err.kind(), &ErrorKind::InvalidAlgorithm);
    }

    #[test]
    fn digests_are_sha2() {
        assert_eq!(
            hex::encode(compute_digest(b"abc", ThumbprintHash::SHA256).unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            compute_digest(b"abc", ThumbprintHash::SHA384)
                .unwrap()
                .len(),
            48
        );
        assert_eq!(
            compute_digest(b"abc", ThumbprintHash::SHA512)
                .unwrap()
                .len(),
            64
        );
    }
}
