// The timeouts and keepalives of rib's PostgreSQL connections, apart from pg_util.h so
// that options structs (PostgresOptions, CoordinatorOptions) can hold them without
// pulling in libpqxx.
#ifndef RIB_SERVER_STORAGE_POSTGRES_CONNECTION_OPTIONS_H_
#define RIB_SERVER_STORAGE_POSTGRES_CONNECTION_OPTIONS_H_

#include "absl/time/time.h"

namespace rib::storage::pg {

// How rib talks to PostgreSQL beyond the URI: every wait on the server is bounded, so a
// black-holed database (packets dropped, no RST) answers UNAVAILABLE instead of hanging
// a thread. Each field is added to the connection string by ConnectionString unless the
// user's URI sets it already (the URI wins).
struct ConnectionOptions {
  // libpq connect_timeout, per host tried. Default 5 s: a local or LAN server answers
  // in milliseconds; libpq's own default is to wait forever.
  absl::Duration connect_timeout = absl::Seconds(5);
  // TCP keepalives on an idle connection: the first probe after keepalives_idle, then
  // one every keepalives_interval, the connection dropped after keepalives_count
  // unanswered. Defaults 10 s, 5 s, 3: a dead peer is noticed within ~25 s.
  absl::Duration keepalives_idle = absl::Seconds(10);
  absl::Duration keepalives_interval = absl::Seconds(5);
  int keepalives_count = 3;
  // libpq tcp_user_timeout: sent data unacknowledged this long drops the connection
  // (keepalives only cover an idle one). Default 25 s, the keepalives' own bound.
  absl::Duration tcp_user_timeout = absl::Seconds(25);
  // Server-side statement_timeout: a statement running longer is cancelled by the
  // server. Default 30 s: rib's transactions take milliseconds, so one that runs this
  // long is stuck on a lock or a plan. ZeroDuration() adds none (the LISTEN
  // connection, whose waits are not statements, needs none).
  absl::Duration statement_timeout = absl::Seconds(30);
};

}  // namespace rib::storage::pg

#endif  // RIB_SERVER_STORAGE_POSTGRES_CONNECTION_OPTIONS_H_
