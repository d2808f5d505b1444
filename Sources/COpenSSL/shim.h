#ifndef CIO_RELAY_COPENSSL_SHIM_H
#define CIO_RELAY_COPENSSL_SHIM_H
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

// OpenSSL spells these as macros around SSL_ctrl/SSL_CTX_ctrl, which Swift does not import.

/// Sends `name` as the server name indication of the handshake.
static inline int cio_ssl_set_server_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/// Refuses anything older than TLS 1.2, and lets a write that must be retried (non-blocking
/// socket) continue from a buffer that has moved, and complete in parts.
static inline int cio_ssl_ctx_set_client_defaults(SSL_CTX *ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}
#endif
