#pragma once
// The envelope of a queued message: who sent it, to whom, how it arrived, and the
// delivery state of each recipient (DESIGN.md §1).

#include <cstdint>
#include <string>
#include <vector>

#include "mail/address.hpp"

namespace posthorn::queue {

enum class body_type : std::uint8_t { SevenBit, EightBitMime, BinaryMime };
enum class rcpt_status : std::uint8_t { Pending, Deferred, Delivered, Failed };
enum class dsn_ret : std::uint8_t { Unset, Full, Hdrs };

// DSN NOTIFY bits (RFC 3461 §4.1); 0 = not given (means FAILURE,DELAY).
namespace notify {
inline constexpr std::uint8_t Never = 1, Success = 2, Failure = 4, Delay = 8;
}

struct recipient {
  mail::address address;   // final destination after alias expansion
  mail::address original;  // as the client gave it in RCPT TO (Delivered-To, DSN)
  std::string orcpt;       // DSN ORCPT= as given ("rfc822;user@host"), "" when absent
  std::uint8_t notify = 0;
  bool local = true;  // delivered here (Maildir) rather than relayed
  rcpt_status status = rcpt_status::Pending;
  std::uint32_t attempts = 0;
  std::string last_reply;         // "550 5.1.1 ..." or a local reason
  std::int64_t next_attempt = 0;  // unix seconds; 0 = now
  bool reported = false;          // its final DSN (bounce, success notice) was queued
  bool relayed = false;  // handed to a peer without DSN (a "relayed" notice); not stored
  std::string remote_mta;  // the host that answered last (DSN Remote-MTA); not stored
};

struct envelope {
  std::string id;          // queue id (also the file name)
  mail::address sender;    // empty = null sender <>
  std::vector<recipient> recipients;
  std::int64_t arrival = 0;  // unix seconds
  body_type body = body_type::SevenBit;
  bool smtputf8 = false;
  std::string envid;  // DSN ENVID
  dsn_ret ret = dsn_ret::Unset;
  std::string client_addr;  // "127.0.0.1"
  std::string client_name;  // reverse DNS name or "unknown"
  std::string helo;
  std::string protocol;   // "SMTP", "ESMTP", "ESMTPS", "ESMTPSA", "local"
  std::string auth_user;  // "" when not authenticated
  bool held = false;
  // Judged spam at acceptance (DMARC quarantine, the spam score): local recipients get
  // it in their Junk folder ([mailbox] junk_folder). Stored in the queue file.
  bool junk = false;
  bool delay_warned = false;  // the delay warning DSN was queued
  std::uint64_t size = 0;  // message octets in the queue file (our Received: included)

  bool done() const;  // every recipient Delivered or Failed
};

const char* status_name(rcpt_status s);  // "pending", "deferred", "delivered", "failed"

}  // namespace posthorn::queue
