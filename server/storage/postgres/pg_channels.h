// The NOTIFY channels the repository publishes on and PgChangeNotifier listens to.
#ifndef RIB_SERVER_STORAGE_POSTGRES_PG_CHANNELS_H_
#define RIB_SERVER_STORAGE_POSTGRES_PG_CHANNELS_H_

namespace rib::storage::pg {

// Every event written: payload '<sweep id>:<event id>'.
inline constexpr char kEventsChannel[] = "rib_events";
// A job became QUEUED: empty payload.
inline constexpr char kQueueChannel[] = "rib_queue";
// A token was revoked: empty payload.
inline constexpr char kTokensChannel[] = "rib_tokens";

}  // namespace rib::storage::pg

#endif  // RIB_SERVER_STORAGE_POSTGRES_PG_CHANNELS_H_
