// gRPC credentials from PEM files: the CLI and the worker agent build their channel
// with MakeChannel, the coordinator its listening port with MakeServerCredentials, so
// every process reads certificates and chooses TLS the same way, and every channel and
// the server get the same keepalives.
//
// The files are read and parsed here (OpenSSL's PEM reader), so a missing or malformed
// certificate is reported naming the file instead of surfacing later as a failed
// handshake or a port that cannot be added.
//
// Errors: NOT_FOUND when a file cannot be read; INVALID_ARGUMENT naming the file when
// it holds no PEM certificate / private key, when a key does not match its
// certificate, or when only one of a certificate/key pair is given.
// Thread-safe (free functions without shared state).
#ifndef RIB_PROTO_TLS_CREDENTIALS_H_
#define RIB_PROTO_TLS_CREDENTIALS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace rib::tls {

// How a client (the rib CLI, rib-worker) connects.
struct ClientTlsOptions {
  // PEM file of the CA(s) trusted to sign the server's certificate. Default "":
  // plaintext; setting it switches the channel to TLS.
  std::string ca_file;
  // PEM files of a client certificate (chain) and its private key, for a server that
  // requires client certificates. Both or neither; only with ca_file. Default "": none.
  std::string cert_file;
  std::string key_file;
  // The name checked against the server's certificate instead of the host in the
  // target address (a certificate issued for coord.lab reached as 10.0.0.5:7070).
  // Default "": the target's host.
  std::string server_name;

  bool enabled() const { return !ca_file.empty(); }
};

// The channel credentials for `options`: InsecureChannelCredentials when TLS is off.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsOptions& options);

// gRPC keepalive pings on every long-lived channel, so a coordinator or worker that
// vanished without closing its connection (a dropped route, a frozen VM) is noticed in
// time + timeout instead of the kernel's hours, and a stream waiting on it fails
// UNAVAILABLE. Client and server must agree: the server refuses (GOAWAY
// "too_many_pings") pings more frequent than it permits, so AddServerKeepalive permits
// twice the client's rate.
struct Keepalive {
  // A ping after this long without activity. Default 20 s.
  absl::Duration time = absl::Seconds(20);
  // The connection is closed when the ping's answer takes longer. Default 10 s.
  absl::Duration timeout = absl::Seconds(10);
};

// Adds the client keepalive arguments to `args`: GRPC_ARG_KEEPALIVE_TIME_MS and
// _TIMEOUT_MS from `keepalive`, pings also without calls in flight
// (GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS; a worker idles between leases) and without
// data (GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA 0: a long-poll sends none for minutes).
void AddClientKeepalive(grpc::ChannelArguments* args,
                        const Keepalive& keepalive = Keepalive());
// Adds the server's side: it accepts those pings (with no call in flight, and down to
// GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS = time / 2 apart) and pings
// its own clients at the same `keepalive`, so a WatchSweep to a vanished client ends.
void AddServerKeepalive(grpc::ServerBuilder* builder,
                        const Keepalive& keepalive = Keepalive());

// A channel to `target` (HOST:PORT) with MakeChannelCredentials(options) and `args`
// plus the server-name override and AddClientKeepalive. Connects lazily: only bad
// options fail here.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& target, const ClientTlsOptions& options,
    grpc::ChannelArguments args = grpc::ChannelArguments());

// For a call that failed before the channel connected: what went wrong in TLS terms,
// for the user's error line, when gRPC's message shows it ("" when nothing points at
// TLS). A TLS channel whose handshake failed gives "TLS handshake failed: <why>" (and
// a hint when the server speaks plaintext); a TLS channel closed after the handshake
// points at the client certificate; a plaintext channel that the server closed at once
// (what a TLS server does to plaintext) suggests --tls-ca.
std::string DescribeConnectFailure(const ClientTlsOptions& options,
                                   absl::string_view grpc_message);

// How the coordinator serves.
struct ServerTlsOptions {
  // PEM files of the server's certificate (chain) and private key. Both or neither.
  // Default "": plaintext.
  std::string cert_file;
  std::string key_file;
  // PEM file of the CA that signs client certificates. When set, every client must
  // present a certificate signed by it. Default "": none asked for.
  std::string client_ca_file;

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// The server credentials for `options`: InsecureServerCredentials when TLS is off.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options);

}  // namespace rib::tls

#endif  // RIB_PROTO_TLS_CREDENTIALS_H_
