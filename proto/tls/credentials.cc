#include "proto/tls/credentials.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rib::tls {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("TLS ", what, " file ", path, ": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;
using Cert = std::unique_ptr<X509, X509Deleter>;
using Key = std::unique_ptr<EVP_PKEY, KeyDeleter>;

Bio MemoryBio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The first certificate of a PEM file (a chain starts with the leaf).
absl::StatusOr<Cert> ParseCertificate(const std::string& pem, const std::string& path,
                                      const char* what) {
  Bio bio = MemoryBio(pem);
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS ", what, " file ", path, ": no PEM certificate in it"));
  }
  return cert;
}

absl::StatusOr<Key> ParseKey(const std::string& pem, const std::string& path) {
  Bio bio = MemoryBio(pem);
  // An empty passphrase callback result: encrypted keys are refused, not prompted for.
  Key key(PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS key file ", path, ": no unencrypted PEM private key in it"));
  }
  return key;
}

struct KeyCertPair {
  std::string cert_chain;
  std::string private_key;
};

// Reads and checks a certificate (chain) and its key: both parse, and they match.
absl::StatusOr<KeyCertPair> LoadKeyCertPair(const std::string& cert_file,
                                            const std::string& key_file) {
  if (cert_file.empty() != key_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a TLS certificate needs its private key and the other way round (certificate ",
        cert_file.empty() ? "not given" : cert_file, ", key ",
        key_file.empty() ? "not given" : key_file, ")"));
  }
  KeyCertPair pair;
  absl::StatusOr<std::string> cert_pem = ReadFile(cert_file, "certificate");
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = ReadFile(key_file, "key");
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<Cert> cert = ParseCertificate(*cert_pem, cert_file, "certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<Key> key = ParseKey(*key_pem, key_file);
  if (!key.ok()) return key.status();
  const int match = X509_check_private_key(cert->get(), key->get());
  ERR_clear_error();
  if (match != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS key file ", key_file, " does not match the certificate in ", cert_file));
  }
  pair.cert_chain = *std::move(cert_pem);
  pair.private_key = *std::move(key_pem);
  return pair;
}

absl::StatusOr<std::string> LoadCa(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFile(path, "CA");
  if (!pem.ok()) return pem.status();
  absl::StatusOr<Cert> cert = ParseCertificate(*pem, path, "CA");
  if (!cert.ok()) return cert.status();
  return pem;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsOptions& options) {
  if (!options.enabled()) {
    if (!options.cert_file.empty() || !options.key_file.empty()) {
      return absl::InvalidArgumentError(
          "a TLS client certificate was given without the CA that signs the server's "
          "certificate (--tls-ca)");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca = LoadCa(options.ca_file);
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *std::move(ca);
  if (!options.cert_file.empty() || !options.key_file.empty()) {
    absl::StatusOr<KeyCertPair> pair =
        LoadKeyCertPair(options.cert_file, options.key_file);
    if (!pair.ok()) return pair.status();
    ssl.pem_cert_chain = std::move(pair->cert_chain);
    ssl.pem_private_key = std::move(pair->private_key);
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(ssl);
  if (credentials == nullptr) {
    return absl::InternalError(
        absl::StrCat("gRPC refused the TLS credentials (CA ", options.ca_file, ")"));
  }
  return credentials;
}

namespace {
int Millis(absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); }
}  // namespace

void AddClientKeepalive(grpc::ChannelArguments* args, const Keepalive& keepalive) {
  args->SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, Millis(keepalive.time));
  args->SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Millis(keepalive.timeout));
  args->SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args->SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
}

void AddServerKeepalive(grpc::ServerBuilder* builder, const Keepalive& keepalive) {
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Millis(keepalive.time));
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Millis(keepalive.timeout));
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                              Millis(keepalive.time / 2));
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& target, const ClientTlsOptions& options,
    grpc::ChannelArguments args) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(options);
  if (!credentials.ok()) return credentials.status();
  if (options.enabled() && !options.server_name.empty()) {
    args.SetSslTargetNameOverride(options.server_name);
  }
  AddClientKeepalive(&args);
  return grpc::CreateCustomChannel(target, *credentials, args);
}

std::string DescribeConnectFailure(const ClientTlsOptions& options,
                                   absl::string_view grpc_message) {
  if (options.enabled()) {
    constexpr char kFailed[] = "handshake failed: ";
    const size_t at = absl::AsciiStrToLower(grpc_message).find(kFailed);
    if (at == std::string::npos) {
      // With TLS 1.3 a client learns that its certificate was refused (or missing)
      // only when the server closes the connection after the handshake.
      if (absl::StrContains(grpc_message, "Socket closed") ||
          absl::StrContains(grpc_message, "Connection reset")) {
        return options.cert_file.empty()
                   ? "the coordinator closed the TLS connection; it may require a "
                     "client certificate (--tls-cert, --tls-key)"
                   : "the coordinator closed the TLS connection; it may not trust the "
                     "client certificate";
      }
      return "";
    }
    std::string why(
        absl::StripAsciiWhitespace(grpc_message.substr(at + sizeof(kFailed) - 1)));
    std::string text = absl::StrCat("TLS handshake failed: ", why);
    if (absl::StrContains(why, "wrong version number")) {
      absl::StrAppend(&text, " (the coordinator seems to serve plaintext)");
    }
    return text;
  }
  if (absl::StrContains(grpc_message, "Socket closed") ||
      absl::StrContains(grpc_message, "Connection reset")) {
    return "the coordinator closed the plaintext connection; if it serves TLS, give "
           "--tls-ca";
  }
  return "";
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options) {
  if (!options.enabled()) {
    if (!options.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "client certificates (--tls-client-ca) need the server to serve TLS "
          "(--tls-cert and --tls-key)");
    }
    return grpc::InsecureServerCredentials();
  }
  absl::StatusOr<KeyCertPair> pair = LoadKeyCertPair(options.cert_file, options.key_file);
  if (!pair.ok()) return pair.status();
  grpc::SslServerCredentialsOptions ssl(
      options.client_ca_file.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!options.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = LoadCa(options.client_ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  ssl.pem_key_cert_pairs.push_back(
      {std::move(pair->private_key), std::move(pair->cert_chain)});
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(ssl);
  if (credentials == nullptr) {
    return absl::InternalError(absl::StrCat("gRPC refused the TLS server credentials (",
                                            options.cert_file, ")"));
  }
  return credentials;
}

}  // namespace rib::tls
