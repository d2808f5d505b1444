#ifndef CIO_RELAY_COPENSSL_SHIM_H
#define CIO_RELAY_COPENSSL_SHIM_H
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#endif
